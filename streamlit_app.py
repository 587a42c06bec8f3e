"""AU annotator: the Streamlit UI. Widgets and layout only; the work is done in
annotator.services.actions and annotator.jobs, the pictures in annotator/ui.

Run with `au-annotator app`: it serves this page and the player's video files (see
streamlit_server.py). Who is coding is a sign-in token in the session and a cookie
(annotator.ui.sign_in), never in the URL; the URL keeps the open video, the subject (person)
being coded and a running processing job, so a reload comes back to the same place. Every
label action is stored in the database the moment it is made. A failure shows a short message;
the server's log keeps the details.
"""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
import streamlit as st

from annotator import jobs
from annotator.services import actions
from annotator.services.context import Services
from annotator.services.uploads import save_upload, upload_limit_message
from annotator.ui import frames, keys, learning_panel, project_pages, sign_in, timeline
from annotator.ui.panels import agreement_ui, export_ui, models_panel_ui
from annotator.ui.player import player_ui
from annotator.ui.settings import AppSettings, app_settings, server_videos
from annotator.ui.subject_picker import forget_subject, subject_ui
from model.au_sets import ABSENT, NOT_CODED, PRESENT
from model.errors import InputError
from model.files import VIDEO_EXTENSIONS

SOURCES = ("Demo clip", "Upload", "Server folder", "Processed videos")
PANELS = ("Review queue", "History", "Export", "Agreement", "Model")
VALUES = (("Present", "P", PRESENT), ("Absent", "A", ABSENT), ("Not codable", "N", NOT_CODED))
log = logging.getLogger("au_annotator.app")


@st.cache_resource
def settings() -> AppSettings:
    return app_settings()


# cached per database (the page has one) and run: a run's arrays never change
@st.cache_data(max_entries=8, hash_funcs={Services: lambda services: services.store.url})
def smoothed_probabilities(services: Services, run_id: int, window: int) -> np.ndarray:
    return actions.smoothed_probabilities(services, run_id, window)


@st.cache_data(max_entries=4, hash_funcs={Services: lambda services: services.store.url})
def run_prefill(services: Services, run_id: int) -> np.ndarray | None:
    return actions.run_prefill(services, run_id)


def main() -> None:
    st.set_page_config(page_title="AU annotator", page_icon="🙂", layout="wide")
    config = settings()
    identity = sign_in.identity_ui(config.services, oidc_configured(),
                                   config.sign_in_hours)
    if identity is None:
        return
    try:
        video_id = video_ui(config)
        if video_id is None:
            if not project_pages.home_ui(config.services):
                welcome_ui(config)
            return
        if not project_pages.page_allows(config.services, video_id):
            return
        review_ui(config, identity, video_id)
    except Exception as error:  # a coder sees one line; the log keeps the traceback
        log.exception("page failed")
        st.error(f"Something went wrong ({type(error).__name__}); nothing you stored is lost. "
                 "Reload the page; if it happens again, the server's log has the details.")


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def _query_number(name: str) -> int | None:
    """A whole number from the page address, or None (with a message when it is not one)."""
    value = st.query_params.get(name)
    if value is None:
        return None
    if not value.isdigit():
        st.warning(f"The page address has {name}={value!r}, which is not a number; open a "
                   "video from the sidebar.")
        del st.query_params[name]
        return None
    return int(value)


def video_ui(config: AppSettings) -> int | None:
    """Sidebar: choose a video to open; returns the open (processed) video's id."""
    sidebar = st.sidebar
    sidebar.header("Open a video")
    source = sidebar.radio("Source", SOURCES, key="source", label_visibility="collapsed")
    if source == "Demo clip":
        sidebar.caption(f"{config.demo_video.name}: 20 s, one face (Pexels)")
        if sidebar.button("Open the demo clip", type="primary"):
            _process(config, config.demo_video)
    elif source == "Upload":
        upload_ui(config)
    elif source == "Server folder":
        server_folder_ui(config)
    else:
        processed_ui(config)
    job = _query_number("job")
    if job is not None:
        progress_ui(config.services, job)
    return _query_number("video")


def upload_ui(config: AppSettings) -> None:
    # A new key per upload: once the file is on disk the widget is replaced, and Streamlit
    # drops the copy it holds in memory.
    key = f"upload-{st.session_state.get('uploads_saved', 0)}"
    uploaded = st.sidebar.file_uploader("Video file", type=[s[1:] for s in VIDEO_EXTENSIONS],
                                        max_upload_size=config.max_upload_mb, key=key)
    if uploaded is None:
        return
    refused = upload_limit_message(uploaded.name, uploaded.size, config.max_upload_mb)
    if refused:
        st.sidebar.error(refused)
    elif st.sidebar.button("Process the upload", type="primary"):
        name = uploaded.name
        try:
            saved = save_upload(name, uploaded.getbuffer(), config.upload_folder,
                                config.max_upload_mb)
        except InputError as error:  # named as the coder chose it; nothing is kept
            st.sidebar.error(str(error))
            return
        del uploaded
        st.session_state["uploads_saved"] = st.session_state.get("uploads_saved", 0) + 1
        _process(config, saved, upload_name=name)
        st.rerun()


def server_folder_ui(config: AppSettings) -> None:
    videos = server_videos(config.video_folder)
    if not videos:
        st.sidebar.info("No server folder with videos. Start the app with "
                        "`au-annotator app --videos DIR` (or set AU_ANNOTATOR_VIDEO_DIR): its "
                        "videos open from disk, never through an upload.")
        return
    chosen = st.sidebar.selectbox("Video", videos,
                                  format_func=lambda p: str(p.relative_to(config.video_folder)))
    if st.sidebar.button("Open", type="primary"):
        _process(config, chosen)


def processed_ui(config: AppSettings) -> None:
    videos = project_pages.visible_only(config.services,
                                   actions.processed_videos(config.services))
    if not videos:
        st.sidebar.info("No processed videos yet.")
        return
    chosen = st.sidebar.selectbox("Video", videos, format_func=lambda v: f"{v.name} (#{v.id})")
    if st.sidebar.button("Open", type="primary"):
        st.query_params["video"] = str(chosen.id)


def _process(config: AppSettings, path, upload_name: str | None = None) -> None:
    st.query_params["job"] = str(jobs.start_processing(config.services, path,
                                                       upload_name=upload_name))


@st.fragment(run_every=0.5)
def progress_ui(services: Services, job_id: int) -> None:
    """Polls the job; the rest of the page stays usable while a video is processed."""
    status = jobs.job_status(services, job_id)
    if status.state == "done":
        del st.query_params["job"]
        st.query_params["video"] = str(status.video_id)
        st.rerun()
    elif status.state == "failed":
        st.sidebar.error(status.message)
        if st.sidebar.button("Dismiss"):
            del st.query_params["job"]
            st.rerun()
    else:
        st.sidebar.progress(status.progress, text=status.message or "waiting…")


def welcome_ui(config: AppSettings) -> None:
    st.title("AU annotator")
    st.write("Open a video from the sidebar: the demo clip, an upload, or a video in the server "
             "folder. Processing finds the face, pre-labels every frame for "
             "AU1, AU2, AU4, AU6, AU12, AU15, AU20 and AU25 and stores the result; a processed "
             "video opens at once the next time.")
    st.video(str(config.demo_video))


def review_ui(config: AppSettings, identity: sign_in.Identity, video_id: int) -> None:
    coder = identity.name
    summary = actions.video_summary(config.services, video_id)
    if summary is None:
        st.error(f"No video #{video_id} in this database.")
        return
    _reset_on_new_video(summary)
    st.subheader(f"{summary.name} · {summary.frame_count:,} frames · {summary.fps:.2f} fps")
    subject = subject_ui(config.services, video_id)
    state = actions.review_state(config.services, video_id, coder, subject)
    probabilities = _smoothed(config.services, state)
    prior = None if state.prior_run_id is None else run_prefill(config.services,
                                                                state.prior_run_id)
    sources = actions.queue_sources(config.services, video_id, subject, state)
    queue = actions.review_queue(state, probabilities, prior, summary.fps, sources)
    left, right = st.columns([3, 2])
    with left:
        player_shown = player_ui(config.services, summary, subject)
    with right:
        label_ui(config, coder, summary, state, queue, subject)
    timeline_ui(summary, state, probabilities, player_shown)
    panel = st.radio("Panel", PANELS, horizontal=True, key="panel",
                     label_visibility="collapsed")
    if panel == "Review queue":
        learning_panel.queue_ui(queue)
    elif panel == "History":
        st.dataframe(actions.history_table(config.services, video_id, subject),
                     hide_index=True)
    elif panel == "Export":
        export_ui(config.services, coder, summary)
    elif panel == "Agreement":
        agreement_ui(config.services, coder, summary, subject)
    else:
        models_panel_ui(config.services, coder, identity.admin)


def _reset_on_new_video(summary: actions.VideoSummary) -> None:
    shown = st.session_state.get("video_shown")
    if shown != summary.id:
        if shown is not None:  # another video opened in this session (a reload keeps both)
            forget_subject()
        st.session_state.update(video_shown=summary.id, frame=0, first=0, last=0)


def label_ui(config: AppSettings, coder: str, summary: actions.VideoSummary,
             state: actions.ReviewState, queue: list[actions.ReviewItem], subject: int) -> None:
    if st.session_state.get("au") not in state.aus:
        st.session_state["au"] = state.aus[0]
    if not set(st.session_state.get("aus", ())) <= set(state.aus):
        st.session_state["aus"] = (st.session_state["au"],)
    st.radio("Action unit", state.aus, key="au", horizontal=True, on_change=_one_au)
    if len(_chosen_aus()) > 1:
        st.caption(f"The buttons apply to {', '.join(_chosen_aus())} (rows boxed on the "
                   "timelines); pick one AU above to go back to one.")
    first, last = st.columns(2)
    for column, (key, name) in zip((first, last), frames.FIELDS, strict=True):
        column.number_input(name, step=1, key=key, on_change=frames.range_field_typed,
                            args=(key, summary.frame_count))
    problem = frames.range_problem(summary.frame_count)
    if problem:
        st.error(problem)
    act = partial(_act, config.services, summary, coder, state.run_id, subject)
    with st.container(horizontal=True):
        for label, key, value in VALUES:
            st.button(label, shortcut=key, on_click=act, args=(value,), type="primary")
        st.button("Accept pre-fill", shortcut="V", on_click=act, args=("accept",),
                  help="mark the model's labels of the range reviewed, as they are")
    with st.container(horizontal=True):
        st.button("Undo", on_click=act, args=("undo",),
                  help="(Ctrl+Z, outside fields) take back your last correction")
        st.button("Redo", on_click=act, args=("redo",),
                  help="(Ctrl+Y or Ctrl+Shift+Z, outside fields) do it again")
        st.button("Range = this frame", shortcut="H", on_click=_range_to_frame)
        st.button("Review next", on_click=learning_panel.review_next, args=(queue,),
                  help="(key R) go to the unreviewed stretch where the pre-fill is least sure")
    keys.page_keys()
    if "notice" in st.session_state:
        st.caption(st.session_state["notice"])
    learning_panel.expression_ui(config.services, summary.id, subject,
                           int(st.session_state.get("frame", 0)), state.aus)
    learning_panel.learn_ui(config.services, summary.id, state, subject)
    prefill_ui(config, coder, summary, state, subject)


def _chosen_aus() -> tuple[str, ...]:
    return tuple(st.session_state.get("aus") or (st.session_state["au"],))


def _one_au() -> None:
    st.session_state["aus"] = (st.session_state["au"],)


def _range_to_frame() -> None:
    st.session_state["first"] = st.session_state["last"] = st.session_state["frame"]


def _act(services: Services, summary: actions.VideoSummary, coder: str, seen_run: int | None,
         subject: int, action) -> None:
    video_id, aus = summary.id, _chosen_aus()
    first, last = sorted((st.session_state["first"], st.session_state["last"]))
    where = f"{', '.join(aus)}, frames {first}–{last}"
    problem = frames.range_problem(summary.frame_count)
    if problem and action not in ("undo", "redo"):
        done, notice = False, f"Not stored: {problem}"
    elif action == "undo":
        done = actions.undo(services, video_id, coder, subject)
        notice = "Undone." if done else "Nothing to undo."
    elif action == "redo":
        done = actions.redo(services, video_id, coder, subject)
        notice = "Redone." if done else "Nothing to redo."
    elif action == "accept":
        try:
            done = actions.accept_prefill(services, video_id, coder, aus, first, last,
                                          seen_run, subject)
            notice = f"Pre-fill accepted: {where}." if done else f"Already reviewed: {where}."
        except actions.NewerPrefill as newer:
            done, notice = False, str(newer)
    else:
        try:
            actions.set_label(services, video_id, coder, aus, first, last, action, seen_run,
                              subject)
            done, notice = True, f"Stored: {where} {actions.VALUE_NAMES[action]}."
        except actions.NewerPrefill as newer:
            done, notice = False, str(newer)
    st.session_state["notice"] = notice
    if done:
        learning_panel.learn_after_correction(services, video_id)


def prefill_ui(config: AppSettings, coder: str, summary: actions.VideoSummary,
               state: actions.ReviewState, subject: int) -> None:
    if state.run_id is None:
        return
    with st.expander("Pre-fill: smoothing and threshold"):
        st.caption("Your own settings for this video, stored at once: what your unreviewed "
                   "frames show and export as. Stretches you reviewed keep their values; other "
                   "coders keep theirs.")
        au = st.session_state["au"]
        change = partial(_change_prefill, config.services, summary.id, coder, state.run_id,
                         au, subject)
        st.slider("Smoothing window (frames)", 1, 61, state.smoothing_window, step=2,
                  key=f"window_{state.run_id}", on_change=change)
        st.slider(f"Threshold of {au}", 0.0, 1.0, float(state.thresholds[state.aus.index(au)]),
                  step=0.01, key=f"threshold_{au}_{state.run_id}", on_change=change)


def _change_prefill(services: Services, video_id: int, coder: str, run_id: int, au: str,
                    subject: int) -> None:
    window = st.session_state[f"window_{run_id}"]
    threshold = st.session_state.get(f"threshold_{au}_{run_id}")
    thresholds = {} if threshold is None else {au: threshold}
    actions.set_prefill_parameters(services, video_id, coder, window, thresholds, subject)


def _smoothed(services: Services, state: actions.ReviewState) -> np.ndarray:
    if state.run_id is None:
        return np.full(state.labels.shape, np.nan, np.float32)
    return smoothed_probabilities(services, state.run_id, state.smoothing_window)


def timeline_ui(summary: actions.VideoSummary, state: actions.ReviewState,
                probabilities: np.ndarray, player_shown: bool) -> None:
    codes = timeline.band_codes(state.labels, state.reviewed, state.prefill)
    selected = frames.label_range(summary.frame_count)
    marked = None if player_shown else st.session_state["frame"]  # the player draws its own
    figure = timeline.timeline_figure(state.aus, probabilities, codes, state.thresholds,
                                      marked, _chosen_aus(), tuple(selected))
    st.plotly_chart(timeline.seek_bar_figure(summary.frame_count, summary.fps, marked),
                    key="seek_bar", selection_mode=("points",), on_select=partial(
                        _timeline_selected, summary.frame_count, state.aus, "seek_bar"),
                    config={"displayModeBar": False})
    st.plotly_chart(figure, key="timeline", selection_mode=("box",),
                    on_select=partial(_timeline_selected, summary.frame_count, state.aus),
                    config={"displaylogo": False, "scrollZoom": False})
    st.html(" ".join(f'<span style="background:{colour};border:1px solid #999;'
                     f'padding:0 .6em;margin:0 .2em 0 .8em"></span>{text}'
                     for colour, text in timeline.BAND_LEGEND)
            + " — drag across a row (or several) to select frames; click the grey bar to go to "
              "a frame")


def _timeline_selected(frame_count: int, aus: tuple[str, ...], key: str = "timeline") -> None:
    event = st.session_state[key]
    chosen = timeline.selection_from_event(event.get("selection"), frame_count, aus)
    if chosen is None:
        return
    st.session_state["frame"] = chosen.first_frame
    if chosen.is_range:
        st.session_state.update(first=chosen.first_frame, last=chosen.last_frame)
    if chosen.aus:
        st.session_state.update(au=chosen.aus[0], aus=chosen.aus)


main()
