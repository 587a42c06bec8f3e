"""The coder's player: the video plays in the browser (a Streamlit component, player.js), and
the page shows beside it what the network sees at the frame it knows.

The player answers its keys itself, without a round trip: → / ← one frame, Shift ±10,
PageDown / PageUp ±1 s, Home / End, Space play / pause, [ / ] slower / faster (0.1×–2×), L loop
the label range, O the faces (every subject's box, number and landmarks; the subject being
coded drawn bold). It shows decoded frame n of our numbering: the
browser tells which picture it presents (`requestVideoFrameCallback`'s media time) and the
stored decode times (annotator.ui.video_route) turn that into a frame number; its element
carries it as `data-frame`.

One playhead: the player draws it on the timelines as it moves. The page learns the frame
when the coder pauses, stops stepping for a moment, or acts (a key or click elsewhere), as a
`frame` event (`_player_moved`); when the page moves the frame itself (a click on the
timelines, a box selection, "Review next", the range or Frame fields) the player seeks there.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import streamlit as st

from annotator.processing.extraction import subjects_for_video, video_cache_dir
from annotator.processing.landmarks import SubjectLandmarks
from annotator.processing.proxy import mime_type, playable_video
from annotator.processing.video import FrameReader
from annotator.services import actions
from annotator.services.context import Services
from annotator.ui import frames, video_route
from annotator.ui.project_pages import video_access
from model.errors import InputError
from model.features import FeatureConfig, face_image

LANDMARK_BACKEND = "dlib"  # the landmarks the page shows (the app processes with dlib)
CHARTS = ("seek_bar", "timeline")  # the page's charts (their keys) the playhead is drawn on
KEYS_HELP = ("→ / ← frame · Shift ±10 · PgDn / PgUp ±1 s · Home / End · Space play · "
             "[ / ] speed · L loop the range · O face overlay")
_FOLDER = Path(__file__).parent
PLAYER = st.components.v2.component(
    "au_annotator_player",
    css=(_FOLDER / "player.css").read_text(encoding="utf-8"),
    js="\n".join((_FOLDER / name).read_text(encoding="utf-8")
                 for name in ("player_view.js", "player.js")),
)


@st.cache_resource(max_entries=4)
def subject_landmarks(path: str) -> SubjectLandmarks:
    return subjects_for_video(path, LANDMARK_BACKEND)


@st.cache_resource(max_entries=4)
def frame_reader(path: str) -> FrameReader:
    return FrameReader(path, subject_landmarks(path).timestamps)


@st.cache_resource(max_entries=8, show_spinner="Making a copy of the video the browser can play…")
def playable(path: str) -> tuple[Path, str]:
    """(file the browser plays, its MIME type); a proxy is made here only for a video that
    was processed before proxies were made at processing time."""
    file = playable_video(path, video_cache_dir(path, LANDMARK_BACKEND))
    return file, mime_type(file)


def player_ui(services: Services, summary: actions.VideoSummary, subject: int = 1) -> bool:
    """The player and, beside it, the network's input of the subject being coded at the
    page's frame; False when the video cannot be shown (the page then marks its frame on the
    timelines itself)."""
    try:
        table = subject_landmarks(summary.path)
        file, mime = playable(summary.path)
    except InputError as error:
        st.warning(f"The video file cannot be shown ({error}); its labels can still be "
                   "reviewed on the timelines.")
        return False
    folder = video_route.serve(file, mime, table, video_access(services, summary.id))
    screen, aside = st.columns([4, 1])
    go_to, keys = st.columns([1, 3], vertical_alignment="bottom")
    # the Frame field is sent before the player: when the player hears that the page learnt
    # its frame, the field shows it too, so a key the player held back (H) acts on that frame
    go_to.number_input("Frame", step=1, key="frame", on_change=frames.frame_typed,
                       args=(summary.frame_count,))
    keys.caption(KEYS_HELP)
    with screen:
        PLAYER(key="player", data=_player_data(summary, folder, table.count, subject),
               on_frame_change=partial(_player_moved, summary.frame_count - 1))
    with aside:
        network_input_ui(summary, table, subject)
    return True


def _player_data(summary: actions.VideoSummary, folder: str, subjects: int,
                 subject: int) -> dict:
    """What the player needs; `seek` changes whenever the page moved the frame itself."""
    frame = st.session_state["frame"]
    if st.session_state.get("player_frame") != frame:
        st.session_state["player_seek"] = st.session_state.get("player_seek", 0) + 1
        st.session_state["player_frame"] = frame
    first, last = frames.label_range(summary.frame_count)
    return {"video": f"{folder}/video", "times": f"{folder}/times", "faces": f"{folder}/faces",
            "frames": summary.frame_count, "fps": summary.fps, "frame": frame,
            "seek": st.session_state["player_seek"], "range": [first, last],
            "charts": list(CHARTS), "subjects": subjects, "subject": subject}


def _player_moved(last_frame: int) -> None:
    """The player's `frame` event: the page learns the frame it shows."""
    frame = st.session_state["player"].frame
    if frame is not None:
        frame = int(min(max(frame, 0), last_frame))
        st.session_state["frame"] = st.session_state["player_frame"] = frame


def network_input_ui(summary: actions.VideoSummary, subjects: SubjectLandmarks,
                     subject: int) -> None:
    """The crop the network sees of the subject at the page's frame, recomputed from the frame
    and its stored landmarks with the feature code itself (`model.features.face_image`)."""
    index = st.session_state["frame"]
    seconds = subjects.timestamps[index] - subjects.timestamps[0]
    table = subjects.subject(subject) if subject <= subjects.count else None
    face = table is not None and bool(table.face[index])
    st.caption(f"frame {index} of {summary.frame_count - 1} · {seconds:.3f} s · "
               + (f"subject {subject}'s face" if face else f"no face of subject {subject}"))
    if not face:
        return
    rgb = frame_reader(summary.path).frame(index).rgb
    image, _ = face_image(rgb, table.landmarks[index], FeatureConfig())  # (2, S, S)
    st.image(image[0], caption="network input: gray", width="stretch")
    st.image(image[1], caption="network input: edges", width="stretch")
