"""Projects in the app: who may open which video, a coder's **My videos** home and the admin
panel of progress. Widgets and layout only; the rules are annotator.services.lab_projects'.

The signed-in coder is read from the server-side session (annotator.ui.sign_in), so the page's
address never decides what a coder may see: a guessed `?video=` is refused like any other.
"""

from __future__ import annotations

import streamlit as st

import db
from annotator.services import lab_projects
from annotator.services.context import Services
from annotator.ui import sign_in
from annotator.ui.subject_picker import forget_subject
from annotator.ui.video_route import Access

STRETCH_S = 2.0  # "Go to the next unreviewed" selects at most this much of one AU


def _identity() -> sign_in.Identity | None:
    return sign_in.current_identity()


def video_access(services: Services, video_id: int) -> Access | None:
    """What the player's file routes check at every request, in the app's database (None:
    nobody signed in)."""
    identity = _identity()
    if identity is None:
        return None
    return Access(services, video_id, identity.name, identity.admin)


def visible_only(services: Services, videos: list) -> list:
    """The videos (anything with an `id`) the signed-in coder may open."""
    identity = _identity()
    if identity is None:
        return []
    with services.store.read() as session:
        visible = lab_projects.visible_video_ids(session, identity.name, identity.admin)
    return videos if visible is None else [v for v in videos if v.id in visible]


def page_allows(services: Services, video_id: int) -> bool:
    """Whether the signed-in coder may open the video; says why not on the page."""
    identity = _identity()
    with services.store.read() as session:
        allowed = identity is not None and lab_projects.may_open(session, video_id, identity.name,
                                                             identity.admin)
    if not allowed:
        st.error(f"Video #{video_id} is not in any of your projects; open one of your videos "
                 "from the sidebar or My videos.")
    return allowed


def home_ui(services: Services) -> bool:
    """My videos (and, for a project's admin, its progress); False when the coder has
    neither, so the page shows its welcome instead."""
    identity = _identity()
    with services.store.read() as session:
        mine = db.projects.assignments(session, coder=identity.name)
        administered = _administered(session, identity)
    if not mine and not administered:
        return False
    if "notice" in st.session_state:
        st.caption(st.session_state.pop("notice"))
    if mine:
        my_videos_ui(services, identity.name)
    for name in administered:
        admin_panel_ui(services, name, identity)
    return True


def _administered(session, identity: sign_in.Identity) -> list[str]:
    names = []
    for project in db.projects.list_projects(session):
        role = db.projects.member_role(session, project, identity.name)
        if role == "admin" or (identity.admin and db.projects.project_video_ids(
                session, project.id)):
            names.append(project.name)
    return names


def my_videos_ui(services: Services, coder: str) -> None:
    st.title("My videos")
    with services.store.read() as session:
        rows = []
        for project in db.projects.list_projects(session):
            for state in lab_projects.progress(session, project.name, coder):
                rows.append((project, state,
                             db.projects.last_change(session, state.assignment.video_id, coder)))
    for project, state, changed in rows:
        row = state.assignment
        text, go, done = st.columns([4, 2, 1], vertical_alignment="center")
        text.markdown(f"**{row.video_name}** · {project.name} · {row.role} · "
                      f"{100 * state.share:.1f} % reviewed · last change "
                      f"{changed.astimezone():%Y-%m-%d %H:%M}" if changed else
                      f"**{row.video_name}** · {project.name} · {row.role} · "
                      f"{100 * state.share:.1f} % reviewed · not started")
        go.button("Next unreviewed" if not state.complete else "Open",
                  key=f"next_{row.assignment_id}", on_click=_go_next,
                  args=(services, project.name, project.au_set, row))
        if row.done:
            done.markdown("✅ done")
        elif state.complete:
            done.button("Mark done", key=f"done_{row.assignment_id}", on_click=_mark_done,
                        args=(services, project.name, row))


def _go_next(services: Services, name: str, au_set: str, row) -> None:
    """Open the video at its first unreviewed stretch (range, AU and subject chosen)."""
    with services.store.read() as session:
        fps = db.get_video(session, row.video_id).fps or 25.0
        stretch = lab_projects.next_unreviewed(session, row, au_set, max(1, round(STRETCH_S * fps)))
    forget_subject()
    st.query_params["video"] = str(row.video_id)
    if stretch is None:
        return
    if stretch.subject != 1:
        st.query_params["subject"] = str(stretch.subject)
    st.session_state.update(video_shown=row.video_id, frame=stretch.first_frame,
                            first=stretch.first_frame, last=stretch.last_frame, au=stretch.au,
                            aus=(stretch.au,), notice=f"Not reviewed yet: {stretch.au}, frames "
                            f"{stretch.first_frame}–{stretch.last_frame}.")


def _mark_done(services: Services, name: str, row) -> None:
    try:
        with services.store.write() as session:
            lab_projects.mark_done(session, name, str(row.video_id), row.coder)
    except db.ProjectError as error:
        st.session_state["notice"] = str(error)


def admin_panel_ui(services: Services, name: str, identity: sign_in.Identity) -> None:
    """Progress of every assignment of a project, reopening a video marked done, and giving
    an assignment to another coder."""
    st.subheader(f"Project {name}: progress")
    with services.store.read() as session:
        states = lab_projects.progress(session, name)
    st.dataframe([{"video": s.assignment.video_name, "coder": s.assignment.coder,
                   "role": s.assignment.role, "reviewed": f"{100 * s.share:.1f} %",
                   "done": s.assignment.done} for s in states], hide_index=True)
    done = [s.assignment for s in states if s.assignment.done]
    if done:
        chosen = st.selectbox("Reopen", done, key=f"reopen_{name}",
                              format_func=lambda r: f"{r.video_name} ({r.coder})")
        st.button("Reopen", key=f"reopen_button_{name}", on_click=_reopen,
                  args=(services, name, chosen, identity))
    if states:
        reassign_ui(services, name, [s.assignment for s in states], identity)


def reassign_ui(services: Services, name: str, rows: list, identity: sign_in.Identity) -> None:
    """Pick an assignment (video × coder) and the coder of the project who takes it over."""
    with services.store.read() as session:
        coders = [coder for coder, role in db.projects.project_members(
            session, db.projects.project_named(session, name)) if role == "coder"]
    which, whom, go = st.columns([3, 2, 1], vertical_alignment="bottom")
    which.selectbox("Reassign", rows, key=f"reassign_{name}",
                    format_func=lambda r: f"{r.video_name} ({r.coder}, {r.role})")
    whom.selectbox("to", coders, key=f"reassign_to_{name}")
    go.button("Reassign", key=f"reassign_button_{name}", on_click=_reassign,
              args=(services, name, identity))


def _reassign(services: Services, name: str, identity: sign_in.Identity) -> None:
    # the choices as they are when the button is pressed, not as the last run drew them
    row, new = st.session_state[f"reassign_{name}"], st.session_state[f"reassign_to_{name}"]
    if new is None:
        st.session_state["notice"] = f"Project {name} has no coders to give a video to."
        return
    try:
        with services.store.write() as session:
            lab_projects.require_admin(session, name, identity.name, identity.admin,
                                       "reassign a video")
            said = lab_projects.reassign(session, name, str(row.video_id), row.coder, new)
    except db.ProjectError as error:
        said = str(error)
    st.session_state["notice"] = said


def _reopen(services: Services, name: str, row, identity: sign_in.Identity) -> None:
    try:
        with services.store.write() as session:
            lab_projects.reopen(session, name, str(row.video_id), row.coder, identity.name,
                            identity.admin)
    except db.ProjectError as error:
        st.session_state["notice"] = str(error)
