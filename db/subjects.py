"""The subjects (people, face tracks) of a video, numbered from 1 by frames seen.

Every video has subject 1 from the moment it is registered, so corrections and prediction runs
always have a subject to belong to; processing replaces its measures (frames seen, where the
face is, a thumbnail) and adds the others (`store_subjects`). Functions here name subjects by
number, as coders do; `subject_row` turns a number into the row, and refuses a number the
video does not have.

Left and right (Aff-Wild2's `<video>_left.txt` / `<video>_right.txt`): of the two most seen
subjects, the one whose face-box centre has the smaller median x is on the left
(model.formats.left_and_right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from db.tables import Subject, Video
from model.affwild2_files import left_and_right


@dataclass(frozen=True)
class SubjectFound:
    """What processing measured of one subject."""

    number: int
    frames_seen: int
    centre_x: float  # median x (pixels) of the face-box centre; NaN when never seen
    thumbnail: bytes | None  # JPEG of the face; None when never seen


def first_subject(session: Session, video: Video) -> Subject:
    """The video's subject 1, created (not yet measured) if the video has none."""
    found = session.scalar(select(Subject).where(Subject.video_id == video.id,
                                                 Subject.number == 1))
    if found is None:
        found = Subject(video_id=video.id, number=1)
        session.add(found)
        session.flush()
    return found


def store_subjects(session: Session, video: Video, found: list[SubjectFound]) -> list[Subject]:
    """Record what processing found: each subject's row is created or brought up to date (by
    number); subjects stored before and not found now are kept, with their labels."""
    rows = {row.number: row for row in video_subjects(session, video.id)}
    for subject in found:
        row = rows.get(subject.number)
        if row is None:
            row = rows[subject.number] = Subject(video_id=video.id, number=subject.number)
            session.add(row)
        row.frames_seen = int(subject.frames_seen)
        row.centre_x = None if math.isnan(subject.centre_x) else float(subject.centre_x)
        row.thumbnail = subject.thumbnail
    session.flush()
    return [rows[number] for number in sorted(rows)]


def video_subjects(session: Session, video_id: int, thumbnails: bool = False) -> list[Subject]:
    """The video's subjects by number (with their thumbnails loaded in the same query when
    asked)."""
    query = select(Subject).where(Subject.video_id == video_id).order_by(Subject.number)
    if thumbnails:
        query = query.options(undefer(Subject.thumbnail))
    return list(session.scalars(query))


def subject_row(session: Session, video_id: int, number: int) -> Subject:
    """The row of subject `number` of the video; ValueError naming the video's subjects when
    it has no such subject."""
    found = session.scalar(select(Subject).where(Subject.video_id == video_id,
                                                 Subject.number == number))
    if found is None:
        known = [s.number for s in video_subjects(session, video_id)]
        raise ValueError(f"video {video_id} has no subject {number} (it has subjects "
                         f"{', '.join(map(str, known)) or 'none'})")
    return found


def left_and_right_subjects(session: Session, video_id: int) -> tuple[int, int] | None:
    """(left, right) subject numbers of the video (model.formats.left_and_right); None when
    fewer than two of its subjects were seen."""
    return subject_sides(video_subjects(session, video_id))


def subject_sides(subjects: list[Subject]) -> tuple[int, int] | None:
    """left_and_right_subjects of subjects already read."""
    people = [(s.number, s.frames_seen or 0, math.nan if s.centre_x is None else s.centre_x)
              for s in subjects]
    return left_and_right(people)
