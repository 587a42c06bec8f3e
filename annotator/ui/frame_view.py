"""The frame viewer: one frame with its face box and landmarks, the crop the network sees,
stepping buttons (with the keys of a coder's player) and playing the label range.

The crop is recomputed from the frame and its stored landmarks with the feature code itself
(`model.features.face_image`), so it is exactly the network's input without loading a whole
video's cached feature array.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import streamlit as st

from annotator import actions
from annotator.landmarks import LandmarkTable
from annotator.pipeline import landmarks_for_video
from annotator.video import FrameReader
from model.features import FeatureConfig, face_image
from model.formats import InputError

BOX_COLOUR = (0, 200, 80)
POINT_COLOUR = (255, 60, 60)
STEPS = (("−1 s", "PageUp", "second", -1), ("−10", "Shift+Left", "frames", -10),
         ("−1", "Left", "frames", -1), ("+1", "Right", "frames", 1),
         ("+10", "Shift+Right", "frames", 10), ("+1 s", "PageDown", "second", 1))


@dataclass(frozen=True)
class FrameView:
    annotated: np.ndarray  # (H, W, 3) uint8 frame with box and landmarks
    gray: np.ndarray | None  # (S, S) uint8 masked grayscale crop; None without a face
    edges: np.ndarray | None  # (S, S) uint8 masked edge map
    face: bool


def frame_view(rgb: np.ndarray, landmarks: LandmarkTable, index: int,
               config: FeatureConfig | None = None) -> FrameView:
    """The viewer's pictures of frame `index` (rgb is that decoded frame)."""
    face = bool(landmarks.face[index])
    annotated = rgb.copy()
    if not face:
        return FrameView(annotated, None, None, False)
    points = landmarks.landmarks[index]
    x1, y1, x2, y2 = (int(round(v)) for v in landmarks.box[index])
    thickness = max(1, round(max(rgb.shape[:2]) / 400))
    cv2.rectangle(annotated, (x1, y1), (x2, y2), BOX_COLOUR, thickness, cv2.LINE_AA)
    for x, y in points:
        cv2.circle(annotated, (int(round(x)), int(round(y))), thickness + 1, POINT_COLOUR, -1,
                   cv2.LINE_AA)
    image, _ = face_image(rgb, points, config or FeatureConfig())  # (2, S, S)
    return FrameView(annotated, image[0], image[1], True)


@st.cache_resource(max_entries=4)
def frame_reader(path: str) -> FrameReader:
    return FrameReader(path, landmark_table(path).timestamps)


@st.cache_resource(max_entries=4)
def landmark_table(path: str) -> LandmarkTable:
    return landmarks_for_video(path)


def frame_ui(summary: actions.VideoSummary) -> None:
    last_frame = summary.frame_count - 1
    placeholder = st.empty()
    try:
        reader = frame_reader(summary.path)
        table = landmark_table(summary.path)
    except InputError as error:
        placeholder.warning(f"The video file cannot be shown ({error}); its labels can still "
                            "be reviewed on the timelines.")
        return
    playing = st.session_state.pop("play", None)
    if playing:
        _play(placeholder, reader, table, summary, *playing)
    _show_frame(placeholder, reader, table, summary, st.session_state["frame"])
    with st.container(horizontal=True):
        for label, shortcut, unit, amount in STEPS:
            delta = amount * max(1, round(summary.fps)) if unit == "second" else amount
            st.button(label, shortcut=shortcut, on_click=_step, args=(delta, last_frame))
    go_to, play = st.columns([2, 1], vertical_alignment="bottom")
    go_to.number_input("Frame", min_value=0, max_value=last_frame, step=1, key="frame")
    play.button("▶ Play range", on_click=_start_playing, width="stretch",
                help="plays the frames first…last of the label range")


def _show_frame(placeholder, reader, table, summary, index: int) -> None:
    view = frame_view(reader.frame(index).rgb, table, index)
    with placeholder.container():
        picture, crops = st.columns([4, 1])
        seconds = table.timestamps[index] - table.timestamps[0]
        picture.image(view.annotated, width="stretch",
                      caption=f"frame {index} of {summary.frame_count - 1} · {seconds:.3f} s · "
                              + ("face" if view.face else "no face found"))
        if view.face:
            crops.image(view.gray, caption="network input: gray", width="stretch")
            crops.image(view.edges, caption="network input: edges", width="stretch")


def _play(placeholder, reader, table, summary, first: int, last: int) -> None:
    period = 1.0 / summary.fps if summary.fps > 0 else 0.04
    for index in range(first, last + 1):
        started = time.monotonic()
        _show_frame(placeholder, reader, table, summary, index)
        time.sleep(max(0.0, period - (time.monotonic() - started)))
    st.session_state["frame"] = last


def _step(delta: int, last_frame: int) -> None:
    st.session_state["frame"] = int(min(max(st.session_state["frame"] + delta, 0), last_frame))


def _start_playing() -> None:
    first, last = sorted((st.session_state["first"], st.session_state["last"]))
    st.session_state["play"] = (first, last)
