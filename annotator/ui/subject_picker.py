"""The subject picker: which person of the video the coder is coding, with a thumbnail of each
face. The chosen subject lives in the page address (`subject=N`), so a reload keeps it; every
label, undo, history, review queue, agreement and export on the page is that subject's.

A video with one subject shows no picker. Choosing a subject listed without a pre-fill (seen
on few frames) pre-fills it first (annotator.services.subject_choice.choose_subject, a second or
two).
"""

from __future__ import annotations

import streamlit as st

from annotator.services import subject_choice
from annotator.services.context import Services
from annotator.services.subject_choice import SubjectView

THUMBNAIL_WIDTH = 72  # pixels


def chosen_subject(listed: list[SubjectView]) -> int:
    """The subject named by the page address, when the video has it; else subject 1."""
    value = st.query_params.get("subject")
    if value is None:
        return 1
    if not value.isdigit() or int(value) not in {s.number for s in listed}:
        st.warning(f"This video has no subject {value!r}; showing subject 1.")
        del st.query_params["subject"]
        return 1
    return int(value)


def forget_subject() -> None:
    """Another video opened: its subject 1 is shown until another is chosen."""
    if "subject" in st.query_params:
        del st.query_params["subject"]


def subject_ui(services: Services, video_id: int) -> int:
    """The picker (when the video has several subjects); returns the chosen subject's number."""
    listed = subject_choice.video_subjects(services, video_id)
    chosen = chosen_subject(listed)
    if len(listed) < 2:
        return chosen
    columns = st.columns(len(listed))
    for column, subject in zip(columns, listed, strict=True):
        with column:
            if subject.thumbnail:
                st.image(subject.thumbnail, width=THUMBNAIL_WIDTH)
            st.button(subject.label, key=f"subject_{subject.number}",
                      type="primary" if subject.number == chosen else "secondary",
                      on_click=_choose, args=(services, video_id, subject.number))
    return chosen


def _choose(services: Services, video_id: int, number: int) -> None:
    subject_choice.choose_subject(services, video_id, number)
    st.query_params["subject"] = str(number)
    st.session_state["notice"] = f"Coding subject {number}."
