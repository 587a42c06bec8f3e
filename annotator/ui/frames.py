"""The frame fields (Frame, First frame, Last frame) and what is done with a value outside the
video.

The fields have no minimum or maximum of Streamlit's own: with one, a value beyond it is only
drawn red in the browser and never reaches the page, so the buttons would label the previous
range without a word. Here every typed value arrives; one outside the video is refused with a
message, and the label buttons store nothing while the range holds one.
"""

from __future__ import annotations

import streamlit as st

FIELDS = (("first", "First frame"), ("last", "Last frame"))


def range_problem(frame_count: int) -> str | None:
    """Why the typed label range cannot be labelled (one line), or None."""
    outside = [f"{name} {st.session_state[key]}" for key, name in FIELDS
               if not 0 <= st.session_state[key] < frame_count]
    if not outside:
        return None
    return (f"{' and '.join(outside)} is outside the video (frames 0–{frame_count - 1}); "
            "type a frame inside it.")


def label_range(frame_count: int) -> tuple[int, int]:
    """The range to draw (first ≤ last), held inside the video while a field is outside it."""
    first, last = (min(max(int(st.session_state[key]), 0), frame_count - 1)
                   for key, _ in FIELDS)
    return min(first, last), max(first, last)


def range_field_typed(field: str, frame_count: int) -> None:
    """First / Last frame typed: the player goes there when it is a frame of the video."""
    value = st.session_state[field]
    if 0 <= value < frame_count:
        st.session_state["frame"] = value


def frame_typed(frame_count: int) -> None:
    """Frame typed: outside the video it is refused, and the field shows the player's frame."""
    value = st.session_state["frame"]
    if not 0 <= value < frame_count:
        shown = st.session_state.get("player_frame", 0)
        st.session_state["frame"] = shown
        st.session_state["notice"] = (f"Frame {value} is outside the video (frames 0–"
                                      f"{frame_count - 1}); the player stays at frame {shown}.")
