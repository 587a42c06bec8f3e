"""The subjects (people) of a video as a coder picks among them, and choosing one.

Processing numbers the people of a video by frames seen (annotator.processing.landmarks.tracking)
and pre-fills those seen often enough (annotator.processing.prediction.PREFILL_SHARE); a subject
seen on fewer frames is listed, and gets its pre-fill when a coder chooses it (from the features
already cached). Everything else a coder does (labels, undo, history, review queue, agreement,
export) takes the chosen subject's number (annotator.services.actions).
"""

from __future__ import annotations

from dataclasses import dataclass

import db
from annotator.processing.prediction import prefill_subject
from annotator.services.context import Services


@dataclass(frozen=True)
class SubjectView:
    """One subject as the picker shows it."""

    number: int
    frames_seen: int | None  # None: not measured (labels imported before tracking)
    share: float | None  # of the video's frames
    place: str | None  # "left" / "right" of the video's two most seen subjects
    prefilled: bool
    thumbnail: bytes | None  # JPEG of the face

    @property
    def label(self) -> str:
        """'Subject 2 · right · 52 frames (54 %)'."""
        parts = [f"Subject {self.number}"]
        if self.place:
            parts.append(self.place)
        if self.frames_seen is not None:
            parts.append(f"{self.frames_seen:,} frames ({100 * (self.share or 0):.0f} %)")
        if not self.prefilled:
            parts.append("no pre-fill yet")
        return " · ".join(parts)


def video_subjects(services: Services, video_id: int) -> list[SubjectView]:
    with services.store.read() as session:
        video = db.get_video(session, video_id)
        listed = db.video_subjects(session, video_id, thumbnails=True)
        pair = db.subject_sides(listed)
        places = {} if pair is None else {pair[0]: "left", pair[1]: "right"}
        prefilled = db.prefilled_subjects(session, video_id)
        frames = max(video.frame_count, 1)
        return [
            SubjectView(s.number, s.frames_seen,
                        None if s.frames_seen is None else s.frames_seen / frames,
                        places.get(s.number), s.number in prefilled, s.thumbnail)
            for s in listed
        ]


def choose_subject(services: Services, video_id: int, subject: int) -> None:
    """Make the subject ready to code: pre-filled from its cached features if it was not."""
    with services.store.read() as session:
        ready = subject in db.prefilled_subjects(session, video_id)
    if not ready:
        prefill_subject(services, video_id, subject)
