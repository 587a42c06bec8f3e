"""A lab's coding projects: assigning videos, progress, done, and who may see which video.

Functions take the caller's session (the caller owns the transaction); the SQL is db.projects'.

Assignment (`assign`): every video of the project without a primary coder gets one, the coder
with the fewest frames assigned so far (longest videos first, so the loads end within one
video's length of each other). A share of those videos is also coded a second time for
reliability: each goes to a pair of coders, the pair that has met least so far, so with at
least as many reliability videos as pairs every pair of coders meets once.

Progress is counted in cells: face frames × the project's AUs of every pre-filled subject of a
video. A coder may mark a video done only when every such cell is reviewed; only an admin (of
the project, or of the app) may reopen it.

Reassignment (`reassign`): an admin gives one coder's assignment of a video (its role, primary
or reliability) to another coder of the project; the new coder sees it in My videos, the old
one no longer. Nothing of the old coder's work is moved or deleted: their corrections stay in
the database under their name (an export with `--coder OLD` still writes them, and they are
there again if the video comes back to them). Progress, done and the reliability report count
the coders who hold the video now, so the new coder starts from the pre-fill and a half-coded
video of a coder who left is not compared as if it were a coding. A video marked done is
reopened before it moves (a done mark says the coder who holds it finished it), and a
double-coded video never goes to the coder who holds its other copy.

Access (`visible_video_ids`): with no project defined at all, everybody sees every video (the
one-person mode and a lab that has not set up projects work as before). Once projects exist, a
coder sees the videos of the projects they are a member of; an admin of the app sees every
video, including videos in no project.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import numpy as np

import db
from db.projects import AssignmentRow, ProjectError
from model.au_sets import au_names

logger = logging.getLogger(__name__)

PRIMARY, RELIABILITY = "primary", "reliability"


@dataclass(frozen=True)
class Stretch:
    """Frames first..last of one AU of one subject: where a coder's work goes on."""

    subject: int
    au: str
    first_frame: int
    last_frame: int


@dataclass(frozen=True)
class Progress:
    """How far one coder is with one video of a project."""

    assignment: AssignmentRow
    reviewed: int  # face frame × AU cells the coder reviewed
    cells: int  # face frame × AU cells of the video's pre-filled subjects

    @property
    def share(self) -> float:
        return self.reviewed / self.cells if self.cells else 1.0

    @property
    def complete(self) -> bool:
        return self.reviewed == self.cells


def plan_assignments(frames: dict[int, int], coders: list[str], load: dict[str, int],
                     met: Counter, share: float) -> list[tuple[int, str, str]]:
    """(video id, coder, role) for the videos `frames` (id → frame count), given the frames
    each coder has already (`load`) and how often each pair has coded a video together
    (`met`, keyed by sorted pairs). Both are updated."""
    order = sorted(frames, key=lambda v: (-frames[v], v))  # longest first
    chosen = _spread(len(order), share)
    planned = []
    for index, video in enumerate(order):
        if index in chosen:
            pair = min(itertools.combinations(sorted(coders), 2),
                       key=lambda p: (met[p], load[p[0]] + load[p[1]], p))
            met[pair] += 1
            first, second = sorted(pair, key=lambda c: (load[c], c))
            planned += [(video, first, PRIMARY), (video, second, RELIABILITY)]
            load[first] += frames[video]
            load[second] += frames[video]
        else:
            coder = min(coders, key=lambda c: (load[c], c))
            planned.append((video, coder, PRIMARY))
            load[coder] += frames[video]
    return planned


def _spread(count: int, share: float) -> set[int]:
    """`share` of the indices 0..count-1 (rounded half up), evenly spread over them, so the
    reliability sample holds long and short videos alike."""
    wanted = min(count, int(share * count + 0.5))
    return {int((i + 0.5) * count / wanted) for i in range(wanted)}


def assign(session: db.Session, name: str, share: float = 0.0) -> list[tuple[int, str, str]]:
    """Assign every video of project `name` that has no primary coder; returns what was
    assigned as (video id, coder, role)."""
    if not 0.0 <= share <= 1.0:
        raise ProjectError(name, f"the reliability share must be between 0 and 1, not {share}")
    project = db.projects.project_named(session, name)
    coders = [c for c, role in db.projects.project_members(session, project) if role == "coder"]
    if not coders:
        raise ProjectError(name, f"no coders to assign to; add some with `au-annotator project "
                                 f"members {name} --add CODER`")
    if share > 0 and len(coders) < 2:
        raise ProjectError(name, "reliability coding needs at least two coders in the project")
    existing = db.projects.assignments(session, project)
    load = Counter({coder: 0 for coder in coders})
    for row in existing:
        load[row.coder] += row.frame_count
    met = Counter(_pairs(existing))
    assigned = {row.video_id for row in existing if row.role == PRIMARY}
    frames = {v.id: v.frame_count for v in db.projects.project_videos(session, project)
              if v.id not in assigned}
    planned = plan_assignments(frames, coders, load, met, share)
    for video_id, coder, role in planned:
        db.projects.add_assignment(session, project, video_id, coder, role)
    return planned


def _pairs(rows: list[AssignmentRow]) -> list[tuple[str, str]]:
    """The sorted pairs of coders assigned the same video."""
    by_video: dict[int, list[str]] = {}
    for row in rows:
        by_video.setdefault(row.video_id, []).append(row.coder)
    return [pair for coders in by_video.values()
            for pair in itertools.combinations(sorted(coders), 2)]


def coded_subjects(session: db.Session, video_id: int) -> list[int]:
    """The subjects a coder of the video codes: those with a pre-fill (subject 1 without)."""
    return sorted(db.prefilled_subjects(session, video_id)) or [1]


def progress(session: db.Session, name: str, coder: str | None = None) -> list[Progress]:
    """Progress of every assignment of project `name` (of one coder, when given)."""
    project = db.projects.project_named(session, name)
    return [assignment_progress(session, row, project.au_set)
            for row in db.projects.assignments(session, project, coder)]


def assignment_progress(session: db.Session, row: AssignmentRow, au_set: str) -> Progress:
    video = db.get_video(session, row.video_id)
    reviewed = cells = 0
    for subject in coded_subjects(session, row.video_id):
        labels = db.effective_labels(session, video, row.coder, subject, au_set)
        reviewed += int((labels.reviewed & labels.face[:, None]).sum())
        cells += int(labels.face.sum()) * len(au_names(au_set))
    return Progress(row, reviewed, cells)


def _assignment_of(session: db.Session, name: str, video: str,
                   coder: str) -> tuple[AssignmentRow, str]:
    project = db.projects.project_named(session, name)
    ids = {v.id for v in db.videos_matching(session, video)}
    found = [row for row in db.projects.assignments(session, project, coder)
             if row.video_id in ids]
    if not found:
        raise ProjectError(video, f"not assigned to {coder} in project {name}")
    return found[0], project.au_set


def mark_done(session: db.Session, name: str, video: str, coder: str) -> Progress:
    """Mark the coder's assignment of `video` done; refused while any face frame × AU of it is
    unreviewed (the message says how many)."""
    row, au_set = _assignment_of(session, name, video, coder)
    state = assignment_progress(session, row, au_set)
    if not state.complete:
        left = state.cells - state.reviewed
        raise ProjectError(row.video_name, f"{left} of {state.cells} face frame × AU cells are "
                                           f"not reviewed by {coder} yet; review them first")
    db.projects.mark_done(session, row.assignment_id, True, coder)
    return state


def require_admin(session: db.Session, name: str, by: str, app_admin: bool, what: str) -> None:
    """Refuse `what` (e.g. "reopen a video") unless `by` administers the project or the app."""
    project = db.projects.project_named(session, name)
    if not app_admin and db.projects.member_role(session, project, by) != "admin":
        raise ProjectError(by, f"only an admin of project {name} may {what}")


def reopen(session: db.Session, name: str, video: str, coder: str, by: str,
           by_app_admin: bool = False) -> None:
    """Reopen a done assignment; only an admin of the project or of the app may."""
    row, _ = _assignment_of(session, name, video, coder)
    require_admin(session, name, by, by_app_admin, "reopen a video")
    if not row.done:
        raise ProjectError(row.video_name, f"is not marked done by {coder}")
    db.projects.mark_done(session, row.assignment_id, False, by)


def reassign(session: db.Session, name: str, video: str, old: str, new: str) -> str:
    """Give `old`'s assignment of `video` in project `name` to `new` (see the module's notes);
    returns the line that says what happened, also when nothing did. Refused (ProjectError)
    when `new` is not a coder of the project, already holds a copy of the video, or the
    assignment is marked done. Who may reassign is the caller's to check (`require_admin`):
    the page asks it of the signed-in coder; the command line runs for the machine's owner."""
    row, _ = _assignment_of(session, name, video, old)
    project = db.projects.project_named(session, name)
    new = new.strip()
    if new == old:
        return f"{row.video_name}: already assigned to {old} in project {name}; nothing changed"
    role = db.projects.member_role(session, project, new)
    if role != "coder":
        raise ProjectError(new, f"is not a coder of project {name}" + (
            " (an admin of it codes nothing)" if role == "admin" else
            f"; add them with `au-annotator project members {name} --add {new}`"))
    other = [r for r in db.projects.assignments(session, project, new)
             if r.video_id == row.video_id]
    if other:
        raise ProjectError(row.video_name, f"{new} codes it already ({other[0].role}) in "
                                           f"project {name}; a double-coded video needs two "
                                           "different coders")
    if row.done:
        raise ProjectError(row.video_name, f"is marked done by {old}; reopen it first to give "
                                           "it to another coder")
    db.projects.move_assignment(session, row.assignment_id, new)
    return (f"{row.video_name}: {old}'s {row.role} coding in project {name} now goes to "
            f"{new} ({old}'s corrections stay stored)")


def visible_video_ids(session: db.Session, coder: str, app_admin: bool) -> set[int] | None:
    """The videos the coder may open, export and play; None: every video."""
    if app_admin or not db.projects.projects_exist(session):
        return None
    return db.projects.coder_video_ids(session, coder)


def may_open(session: db.Session, video_id: int, coder: str, app_admin: bool) -> bool:
    visible = visible_video_ids(session, coder, app_admin)
    return visible is None or video_id in visible


def refuse_unless_visible(session: db.Session, video: db.Video, coder: str,
                          app_admin: bool) -> None:
    """The command line's refusal of a video the coder may not open (the page's rule)."""
    if not may_open(session, video.id, coder, app_admin):
        raise ProjectError(f"{video.name} (#{video.id})", f"in none of {coder}'s projects")


def last_changes(session: db.Session, rows: list[AssignmentRow]) -> list[datetime | None]:
    return [db.projects.last_change(session, row.video_id, row.coder) for row in rows]


def project_exports(session: db.Session, name: str, coder: str | None,
                    done_only: bool) -> list[tuple[db.Video, str]]:
    """(video, whose labels) a project's export writes: each video with its primary coder, or
    the videos assigned to `coder` with theirs; marked done only, when asked."""
    project = db.projects.project_named(session, name)
    rows = [row for row in db.projects.assignments(session, project, coder)
            if (coder is not None or row.role == PRIMARY) and (row.done or not done_only)]
    return [(db.get_video(session, row.video_id), row.coder) for row in rows]


def next_unreviewed(session: db.Session, row: AssignmentRow, au_set: str,
                    longest: int) -> Stretch | None:
    """The first face frames the coder has not reviewed (at most `longest` frames of one AU),
    subjects in number order; None when everything is reviewed."""
    video = db.get_video(session, row.video_id)
    for subject in coded_subjects(session, row.video_id):
        labels = db.effective_labels(session, video, row.coder, subject, au_set)
        open_cells = ~labels.reviewed & labels.face[:, None]  # (T, K)
        frames = np.flatnonzero(open_cells.any(axis=1))
        if len(frames):
            first = int(frames[0])
            k = int(np.flatnonzero(open_cells[first])[0])
            run = open_cells[first:first + longest, k]
            last = first + (int(np.argmin(run)) - 1 if not run.all() else len(run) - 1)
            return Stretch(subject, labels.aus[k], first, last)
    return None
