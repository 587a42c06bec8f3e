"""Projects: videos a lab codes in one AU set, their members, assignments and done marks.

A project's members are coders with a role there: "admin" (assigns, reopens, reads reports) or
"coder" (gets videos to code). An assignment gives one video of the project to one coder, as
its "primary" coding or a "reliability" second coding. Done marks are append-only: the newest
mark of an assignment says whether it is done, and reopening is a mark of its own.

Who may see which video follows from these rows (`coder_video_ids`, `project_video_ids`); the
rules themselves are annotator.services.lab_projects'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.coders import coder_named
from db.corrections import edit_state, track_filter
from db.tables import (
    Assignment,
    Coder,
    Correction,
    DoneMark,
    Edit,
    Project,
    ProjectMember,
    ProjectVideo,
    Video,
)
from model.au_sets import AU_SETS
from model.errors import InputError


class ProjectError(InputError):
    """A project cannot be made or changed as asked: one line naming the project (or coder)
    and the problem, printed by the CLI and the app as any bad input."""

    def __init__(self, name: str, problem: str):
        Exception.__init__(self, f"{name}: {problem}")
        self.path, self.problem = None, problem


@dataclass(frozen=True)
class AssignmentRow:
    """One video of a project given to one coder, and whether it is done now."""

    assignment_id: int
    video_id: int
    video_name: str
    frame_count: int
    coder: str
    role: str
    done: bool


def add_project(session: Session, name: str, au_set: str) -> Project:
    name = name.strip()
    if not name or len(name) > 100:
        raise ProjectError(repr(name), "a project name must be 1 to 100 characters")
    if au_set not in AU_SETS:
        raise ProjectError(name, f"unknown AU set {au_set!r} (known: {', '.join(AU_SETS)})")
    if session.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise ProjectError(name, "a project of this name exists already")
    project = Project(name=name, au_set=au_set)
    session.add(project)
    session.flush()
    return project


def project_named(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name.strip()))
    if project is None:
        raise ProjectError(name, "no project of this name (see `au-annotator project list`)")
    return project


def list_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


def projects_exist(session: Session) -> bool:
    return session.scalar(select(Project.id).limit(1)) is not None


def add_project_videos(session: Session, project: Project, video_ids: Iterable[int]) -> int:
    """Bring videos into the project; returns how many were new to it."""
    known = set(project_video_ids(session, project.id))
    new = sorted(set(video_ids) - known)
    session.add_all(ProjectVideo(project_id=project.id, video_id=v) for v in new)
    session.flush()
    return len(new)


def project_videos(session: Session, project: Project) -> list[Video]:
    return list(session.scalars(
        select(Video).join(ProjectVideo, ProjectVideo.video_id == Video.id)
        .where(ProjectVideo.project_id == project.id).order_by(Video.id)))


def project_video_ids(session: Session, project_id: int | None = None) -> set[int]:
    """Videos of the project (of any project when None)."""
    query = select(ProjectVideo.video_id)
    if project_id is not None:
        query = query.where(ProjectVideo.project_id == project_id)
    return set(session.scalars(query))


def coder_video_ids(session: Session, coder: str) -> set[int]:
    """Videos of every project the coder is a member of."""
    return set(session.scalars(
        select(ProjectVideo.video_id)
        .join(ProjectMember, ProjectMember.project_id == ProjectVideo.project_id)
        .join(Coder, Coder.id == ProjectMember.coder_id).where(Coder.name == coder)))


def set_member(session: Session, project: Project, coder: str, role: str) -> None:
    """Make the coder a member with `role` (a member already there takes the new role)."""
    coder_id = coder_named(session, coder).id
    member = session.scalar(select(ProjectMember).where(
        ProjectMember.project_id == project.id, ProjectMember.coder_id == coder_id))
    if member is None:
        session.add(ProjectMember(project_id=project.id, coder_id=coder_id, role=role))
    else:
        member.role = role
    session.flush()


def remove_member(session: Session, project: Project, coder: str) -> None:
    member = session.scalar(select(ProjectMember).join(Coder, Coder.id == ProjectMember.coder_id)
                            .where(ProjectMember.project_id == project.id, Coder.name == coder))
    if member is None:
        raise ProjectError(coder, f"not a member of project {project.name}")
    session.delete(member)
    session.flush()


def project_members(session: Session, project: Project) -> list[tuple[str, str]]:
    """(coder, role) of each member, by name."""
    return list(session.execute(
        select(Coder.name, ProjectMember.role).join(Coder, Coder.id == ProjectMember.coder_id)
        .where(ProjectMember.project_id == project.id).order_by(Coder.name)))


def member_role(session: Session, project: Project, coder: str) -> str | None:
    return session.scalar(
        select(ProjectMember.role).join(Coder, Coder.id == ProjectMember.coder_id)
        .where(ProjectMember.project_id == project.id, Coder.name == coder))


def add_assignment(session: Session, project: Project, video_id: int, coder: str,
                   role: str) -> None:
    session.add(Assignment(project_id=project.id, video_id=video_id,
                           coder_id=coder_named(session, coder).id, role=role))
    session.flush()


def move_assignment(session: Session, assignment_id: int, coder: str) -> None:
    """Give the assignment (its role and done marks) to `coder`; the corrections of its
    former coder are theirs and stay where they are."""
    session.execute(update(Assignment).where(Assignment.id == assignment_id)
                    .values(coder_id=coder_named(session, coder).id))
    session.flush()


def assignments(session: Session, project: Project | None = None,
                coder: str | None = None) -> list[AssignmentRow]:
    """The assignments of a project and/or a coder, by video name then role (primary first)."""
    newest = (select(DoneMark.assignment_id, func.max(DoneMark.id).label("mark"))
              .group_by(DoneMark.assignment_id).subquery())
    query = (
        select(Assignment.id, Video.id, Video.name, Video.frame_count, Coder.name,
               Assignment.role, DoneMark.done)
        .join(Video, Video.id == Assignment.video_id)
        .join(Coder, Coder.id == Assignment.coder_id)
        .outerjoin(newest, newest.c.assignment_id == Assignment.id)
        .outerjoin(DoneMark, DoneMark.id == newest.c.mark)
        .order_by(Video.name, Video.id, Assignment.role, Coder.name)
    )
    if project is not None:
        query = query.where(Assignment.project_id == project.id)
    if coder is not None:
        query = query.where(Coder.name == coder)
    return [AssignmentRow(*row[:6], bool(row[6])) for row in session.execute(query)]


def mark_done(session: Session, assignment_id: int, done: bool, by_coder: str) -> None:
    session.add(DoneMark(assignment_id=assignment_id, done=done,
                         by_coder_id=coder_named(session, by_coder).id))
    session.flush()


def done_times(session: Session, assignment_id: int) -> list[tuple[datetime, bool]]:
    """(time, done) of each mark of an assignment, oldest first."""
    return list(session.execute(
        select(DoneMark.created_at, DoneMark.done).where(DoneMark.assignment_id == assignment_id)
        .order_by(DoneMark.id)))


def last_change(session: Session, video_id: int, coder: str) -> datetime | None:
    """When the coder last stored anything on the video (None: never)."""
    return session.scalar(select(func.max(Edit.created_at)).join(Coder, Coder.id == Edit.coder_id)
                          .where(Edit.video_id == video_id, Coder.name == coder))


def reviewed_events(session: Session, video_id: int, coder: str,
                    subject_id: int) -> list[tuple[str, int, int, datetime]]:
    """(AU, first frame, last frame, time) of the coder's active corrections on one subject,
    oldest first: when each stretch was reviewed, for progress over time."""
    coder_id = session.scalar(select(Coder.id).where(Coder.name == coder))
    if coder_id is None:
        return []
    active, _ = edit_state(session, video_id, coder_id, subject_id)
    rows = session.execute(
        select(Correction.edit_id, Correction.au, Correction.first_frame, Correction.last_frame,
               Edit.created_at)
        .join(Correction.edit).where(*track_filter(video_id, coder_id, subject_id))
        .order_by(Correction.id))
    active_set = set(active)
    return [tuple(row[1:]) for row in rows if row[0] in active_set]
