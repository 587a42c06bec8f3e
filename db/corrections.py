"""Coders' corrections as append-only interval events, grouped into edits; undo and redo.

An edit is one action of one coder on one subject (person) of a video: a timeline correction
("edit"), accepting the pre-fill ("accept"), a label-file import ("import"), or an undo/redo that
names the edit it reverts or restores. Nothing is deleted or overwritten. Each (video, coder,
subject) track has a linear undo history: undo reverts that track's newest active edit, redo
restores the newest undone one, and any new edit clears what could be redone, as in an editor.
Subjects are named by number (db.subjects); subject 1 unless said otherwise.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.coders import coder_named
from db.subjects import subject_row
from db.tables import Coder, Correction, Edit, Subject, Video
from model.au_sets import AU_SETS

logger = logging.getLogger(__name__)

KNOWN_AUS = frozenset(au for aus in AU_SETS.values() for au in aus)
CONTENT_KINDS = ("edit", "accept", "import")  # edits that carry corrections


@dataclass(frozen=True)
class Interval:
    """Frames first..last (0-based, inclusive) of one AU labelled `value` (1, 0 or -1)."""

    au: str
    first_frame: int
    last_frame: int
    value: int


@dataclass(frozen=True)
class Track:
    coder: str
    subject: int


@dataclass(frozen=True)
class HistoryRow:
    """One line of a video's history; undo/redo rows carry no AU or frames."""

    edit_id: int
    kind: str
    coder: str
    subject: int
    time: datetime
    undone: bool  # an undone correction no longer counts (undo/redo rows: always False)
    target_edit_id: int | None = None
    au: str | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    value: int | None = None


def record_edit(
    session: Session,
    video: Video,
    coder: str,
    intervals: Iterable[Interval],
    subject: int = 1,
    kind: str = "edit",
) -> Edit:
    """Store one edit of one subject made of interval events; the caller commits."""
    if kind not in CONTENT_KINDS:
        raise ValueError(f"edit kind must be one of {CONTENT_KINDS}, got {kind!r}")
    key = TrackKey(video.id, video.frame_count, coder_named(session, coder).id,
                   subject_row(session, video.id, subject).id)
    return session.get(Edit, append_edit(session, key, intervals, kind))


@dataclass(frozen=True)
class TrackKey:
    """The rows one coder's edits of one subject hang from. Looked up in a read transaction
    before a write, so the write transaction, which other coders' edits queue behind, holds
    the write lock for its inserts alone."""

    video_id: int
    frame_count: int
    coder_id: int
    subject_id: int


def track_key(session: Session, video_id: int, coder: str, subject: int = 1) -> TrackKey | None:
    """The track's key, reading only; None when the video or the coder is not stored yet."""
    found = session.connection().execute(  # one read, the common case: all three are stored
        select(Video.frame_count, Coder.id, Subject.id)
        .join(Subject, Subject.video_id == Video.id)
        .join(Coder, Coder.name == coder.strip())
        .where(Video.id == video_id, Subject.number == subject)).first()
    if found is not None:
        return TrackKey(video_id, *found)
    video = session.get(Video, video_id)
    coder_id = session.scalar(select(Coder.id).where(Coder.name == coder.strip()))
    if video is None or coder_id is None:
        return None
    return TrackKey(video.id, video.frame_count, coder_id,
                    subject_row(session, video.id, subject).id)


def newest_edit_id(session: Session, key: TrackKey) -> int | None:
    """The track's newest edit (None: none yet): unchanged means nothing the coder sees of the
    track changed."""
    return session.scalar(select(func.max(Edit.id)).where(
        *track_filter(key.video_id, key.coder_id, key.subject_id)))


def append_edit(session: Session, key: TrackKey, intervals: Iterable[Interval],
                kind: str = "edit", target_edit_id: int | None = None) -> int:
    """Insert one edit and its interval events (two statements); returns the edit's id."""
    if kind not in CONTENT_KINDS + ("undo", "redo"):
        raise ValueError(f"edit kind must be one of {CONTENT_KINDS} or undo/redo, got {kind!r}")
    intervals = list(intervals)
    for interval in intervals:
        _check_interval(key.video_id, key.frame_count, interval)
    edit_id = session.execute(Edit.__table__.insert().returning(Edit.id), {
        "video_id": key.video_id, "coder_id": key.coder_id, "subject_id": key.subject_id,
        "kind": kind, "target_edit_id": target_edit_id}).scalar_one()
    if intervals:
        session.execute(Correction.__table__.insert(), [
            {"edit_id": edit_id, "au": i.au, "first_frame": i.first_frame,
             "last_frame": i.last_frame, "value": i.value} for i in intervals])
    return edit_id


def correct(
    session: Session,
    video: Video,
    coder: str,
    au: str,
    first_frame: int,
    last_frame: int,
    value: int,
    subject: int = 1,
) -> Edit:
    """One timeline correction: frames first..last (0-based, inclusive) of `au` set to `value`."""
    return record_edit(session, video, coder, [Interval(au, first_frame, last_frame, value)],
                       subject)


def undo(session: Session, video: Video, coder: str, subject: int = 1) -> Edit | None:
    """Revert the track's newest active edit; None when there is nothing to undo."""
    return _undo_or_redo(session, video, coder, subject, "undo")


def redo(session: Session, video: Video, coder: str, subject: int = 1) -> Edit | None:
    """Restore the track's most recently undone edit; None when there is nothing to redo."""
    return _undo_or_redo(session, video, coder, subject, "redo")


def undo_target(session: Session, key: TrackKey, kind: str) -> int | None:
    """The edit an undo (or redo) of the track would revert (restore), reading only."""
    active, undone = edit_state(session, key.video_id, key.coder_id, key.subject_id)
    targets = active if kind == "undo" else undone
    return targets[-1] if targets else None


def _undo_or_redo(session: Session, video: Video, coder: str, subject: int,
                  kind: str) -> Edit | None:
    coder_row = _locked_coder(session, coder)
    subject_id = subject_row(session, video.id, subject).id
    active, undone = edit_state(session, video.id, coder_row.id, subject_id)
    targets = active if kind == "undo" else undone
    if not targets:
        return None
    return _add_marker(session, video, coder_row, subject_id, kind, targets[-1])


def tracks(session: Session, video_id: int) -> list[Track]:
    """Every (coder, subject) that has edits on the video, in the order they first appeared."""
    rows = session.execute(
        select(Coder.name, Subject.number)
        .join(Edit.coder)
        .join(Edit.subject)
        .where(Edit.video_id == video_id)
        .group_by(Coder.name, Subject.number)
        .order_by(func.min(Edit.id))
    )
    return [Track(name, number) for name, number in rows]


def history(session: Session, video_id: int, subject: int | None = None) -> list[HistoryRow]:
    """Every edit on the video (of one subject, when given), oldest first, one row per interval
    event."""
    query = (
        select(
            Edit.id,
            Edit.kind,
            Edit.coder_id,
            Coder.name,
            Subject.number,
            Edit.created_at,
            Edit.target_edit_id,
        )
        .join(Edit.coder)
        .join(Edit.subject)
        .where(Edit.video_id == video_id)
        .order_by(Edit.id)
    )
    if subject is not None:
        query = query.where(Subject.number == subject)
    edits = session.execute(query).all()
    undone = _undone_edits(edits)
    events: dict[int, list[Correction]] = defaultdict(list)
    for correction in session.scalars(
        select(Correction)
        .join(Correction.edit)
        .where(Edit.video_id == video_id)
        .order_by(Correction.id)
    ):
        events[correction.edit_id].append(correction)
    rows = []
    for edit_id, kind, _, coder, number, time, target in edits:
        base = dict(
            edit_id=edit_id,
            kind=kind,
            coder=coder,
            subject=number,
            time=time,
            undone=edit_id in undone,
            target_edit_id=target,
        )
        if kind not in CONTENT_KINDS:
            rows.append(HistoryRow(**base))
        for event in events[edit_id]:
            rows.append(
                HistoryRow(
                    **base,
                    au=event.au,
                    first_frame=event.first_frame,
                    last_frame=event.last_frame,
                    value=event.value,
                )
            )
    return rows


def intervals_from_labels(
    labels: np.ndarray, aus: tuple[str, ...], mask: np.ndarray | None = None, first_frame: int = 0
) -> list[Interval]:
    """Runs of equal values per AU in (T, K) labels, limited to `mask` (T, K) where given.

    Frame numbers are offset by `first_frame` (labels may be a slice of the video).
    """
    labels = np.asarray(labels, dtype=np.int16)
    outside = np.int16(127)  # not a label value: frames outside the mask split runs and are dropped
    if mask is not None:
        labels = np.where(mask, labels, outside)
    intervals = []
    for k, au in enumerate(aus):
        column = labels[:, k]
        if len(column) == 0:
            continue
        starts = np.r_[0, np.flatnonzero(np.diff(column)) + 1]
        ends = np.r_[starts[1:] - 1, len(column) - 1]
        for start, end in zip(starts, ends, strict=True):
            if column[start] != outside:
                intervals.append(
                    Interval(
                        au, first_frame + int(start), first_frame + int(end), int(column[start])
                    )
                )
    return intervals


def _check_interval(video_id: int, frame_count: int, interval: Interval) -> None:
    if interval.au not in KNOWN_AUS:
        raise ValueError(f"unknown AU {interval.au!r}")
    if not 0 <= interval.first_frame <= interval.last_frame < frame_count:
        raise ValueError(
            f"frames {interval.first_frame}..{interval.last_frame} outside video {video_id} "
            f"(frames 0..{frame_count - 1})"
        )
    if interval.value not in (-1, 0, 1):
        raise ValueError(f"label value must be 1, 0 or -1, got {interval.value!r}")


def _locked_coder(session: Session, name: str) -> Coder:
    # PostgreSQL: serialise one coder's undo/redo (SQLite's BEGIN IMMEDIATE already does)
    coder = coder_named(session, name)
    return session.scalar(select(Coder).where(Coder.id == coder.id).with_for_update())


def _add_marker(session, video: Video, coder: Coder, subject_id: int, kind: str,
                target: int) -> Edit:
    edit = Edit(video_id=video.id, coder_id=coder.id, subject_id=subject_id, kind=kind,
                target_edit_id=target)
    session.add(edit)
    session.flush()
    logger.info("%s of edit %d by %s on video %d", kind, target, coder.name, video.id)
    return edit


def edit_state(
    session: Session, video_id: int, coder_id: int, subject_id: int
) -> tuple[list[int], list[int]]:
    """(ids of the track's edits that count, ids that redo would restore), each oldest first."""
    edits = session.connection().execute(
        select(Edit.id, Edit.kind, Edit.target_edit_id)
        .where(*track_filter(video_id, coder_id, subject_id))
        .order_by(Edit.id)
    ).all()
    return replay_edits(edits)


def track_filter(video_id: int, coder_id: int, subject_id: int) -> tuple:
    """WHERE conditions selecting one (video, coder, subject) track's edits."""
    return (Edit.video_id == video_id, Edit.coder_id == coder_id, Edit.subject_id == subject_id)


def replay_edits(edits) -> tuple[list[int], list[int]]:
    """(active edit ids, undone edit ids that redo would restore), each oldest first."""
    active: list[int] = []
    undone: list[int] = []
    for edit_id, kind, target in edits:
        if kind == "undo":
            active.remove(target)
            undone.append(target)
        elif kind == "redo":
            undone.remove(target)
            active.append(target)
        else:
            active.append(edit_id)
            undone.clear()
    return active, undone


def _undone_edits(edits) -> set[int]:
    by_track: dict[tuple, list] = defaultdict(list)
    for edit_id, kind, coder_id, _, subject, _, target in edits:
        by_track[(coder_id, subject)].append((edit_id, kind, target))
    undone: set[int] = set()
    for track_edits in by_track.values():
        active, _ = replay_edits(track_edits)
        undone.update(i for i, kind, _ in track_edits if kind in CONTENT_KINDS)
        undone.difference_update(active)
    return undone
