"""Coders' corrections as append-only interval events, grouped into edits; undo and redo.

An edit is one action of one coder on one video (and, for two-person Aff-Wild2 videos, one
side): a timeline correction ("edit"), accepting the pre-fill ("accept"), a label-file import
("import"), or an undo/redo that names the edit it reverts or restores. Nothing is deleted or
overwritten. Each (video, coder, side) track has a linear undo history: undo reverts that track's
newest active edit, redo restores the newest undone one, and any new edit clears what could be
redone, as in an editor.
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
from db.models import SIDES, Coder, Correction, Edit, Video
from model.formats import AU_SETS

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
    side: str | None


@dataclass(frozen=True)
class HistoryRow:
    """One line of a video's history; undo/redo rows carry no AU or frames."""

    edit_id: int
    kind: str
    coder: str
    side: str | None
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
    side: str | None = None,
    kind: str = "edit",
) -> Edit:
    """Store one edit made of interval events; the caller commits."""
    if kind not in CONTENT_KINDS:
        raise ValueError(f"edit kind must be one of {CONTENT_KINDS}, got {kind!r}")
    intervals = list(intervals)
    for interval in intervals:
        _check_interval(video, interval)
    edit = Edit(
        video_id=video.id, coder_id=coder_named(session, coder).id, side=_side(side), kind=kind
    )
    session.add(edit)
    session.flush()
    if intervals:
        session.execute(
            Correction.__table__.insert(),
            [
                {
                    "edit_id": edit.id,
                    "au": i.au,
                    "first_frame": i.first_frame,
                    "last_frame": i.last_frame,
                    "value": i.value,
                }
                for i in intervals
            ],
        )
    return edit


def correct(
    session: Session,
    video: Video,
    coder: str,
    au: str,
    first_frame: int,
    last_frame: int,
    value: int,
    side: str | None = None,
) -> Edit:
    """One timeline correction: frames first..last (0-based, inclusive) of `au` set to `value`."""
    return record_edit(session, video, coder, [Interval(au, first_frame, last_frame, value)], side)


def undo(session: Session, video: Video, coder: str, side: str | None = None) -> Edit | None:
    """Revert the track's newest active edit; None when there is nothing to undo."""
    return _undo_or_redo(session, video, coder, side, "undo")


def redo(session: Session, video: Video, coder: str, side: str | None = None) -> Edit | None:
    """Restore the track's most recently undone edit; None when there is nothing to redo."""
    return _undo_or_redo(session, video, coder, side, "redo")


def _undo_or_redo(session: Session, video: Video, coder: str, side: str | None,
                  kind: str) -> Edit | None:
    coder_row = _locked_coder(session, coder)
    active, undone = edit_state(session, video.id, coder_row.id, _side(side))
    targets = active if kind == "undo" else undone
    if not targets:
        return None
    return _add_marker(session, video, coder_row, side, kind, targets[-1])


def tracks(session: Session, video_id: int) -> list[Track]:
    """Every (coder, side) that has edits on the video, in the order they first appeared."""
    rows = session.execute(
        select(Coder.name, Edit.side)
        .join(Edit.coder)
        .where(Edit.video_id == video_id)
        .group_by(Coder.name, Edit.side)
        .order_by(func.min(Edit.id))
    )
    return [Track(name, side) for name, side in rows]


def history(session: Session, video_id: int) -> list[HistoryRow]:
    """Every edit on the video, oldest first, one row per interval event."""
    edits = session.execute(
        select(
            Edit.id,
            Edit.kind,
            Edit.coder_id,
            Coder.name,
            Edit.side,
            Edit.created_at,
            Edit.target_edit_id,
        )
        .join(Edit.coder)
        .where(Edit.video_id == video_id)
        .order_by(Edit.id)
    ).all()
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
    for edit_id, kind, _, coder, side, time, target in edits:
        base = dict(
            edit_id=edit_id,
            kind=kind,
            coder=coder,
            side=side,
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


def _check_interval(video: Video, interval: Interval) -> None:
    if interval.au not in KNOWN_AUS:
        raise ValueError(f"unknown AU {interval.au!r}")
    if not 0 <= interval.first_frame <= interval.last_frame < video.frame_count:
        raise ValueError(
            f"frames {interval.first_frame}..{interval.last_frame} outside video {video.id} "
            f"(frames 0..{video.frame_count - 1})"
        )
    if interval.value not in (-1, 0, 1):
        raise ValueError(f"label value must be 1, 0 or -1, got {interval.value!r}")


def _side(side: str | None) -> str | None:
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be one of {SIDES} or None, got {side!r}")
    return side


def _locked_coder(session: Session, name: str) -> Coder:
    # PostgreSQL: serialise one coder's undo/redo (SQLite's BEGIN IMMEDIATE already does)
    coder = coder_named(session, name)
    return session.scalar(select(Coder).where(Coder.id == coder.id).with_for_update())


def _add_marker(session, video: Video, coder: Coder, side, kind: str, target: int) -> Edit:
    edit = Edit(video_id=video.id, coder_id=coder.id, side=side, kind=kind, target_edit_id=target)
    session.add(edit)
    session.flush()
    logger.info("%s of edit %d by %s on video %d", kind, target, coder.name, video.id)
    return edit


def edit_state(
    session: Session, video_id: int, coder_id: int, side: str | None
) -> tuple[list[int], list[int]]:
    """(ids of the track's edits that count, ids that redo would restore), each oldest first."""
    edits = session.execute(
        select(Edit.id, Edit.kind, Edit.target_edit_id)
        .where(*track_filter(video_id, coder_id, side))
        .order_by(Edit.id)
    ).all()
    return replay_edits(edits)


def track_filter(video_id: int, coder_id: int, side: str | None) -> tuple:
    """WHERE conditions selecting one (video, coder, side) track's edits."""
    side_is = Edit.side.is_(None) if side is None else Edit.side == side
    return (Edit.video_id == video_id, Edit.coder_id == coder_id, side_is)


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
    for edit_id, kind, coder_id, _, side, _, target in edits:
        by_track[(coder_id, side)].append((edit_id, kind, target))
    undone: set[int] = set()
    for track_edits in by_track.values():
        active, _ = replay_edits(track_edits)
        undone.update(i for i, kind, _ in track_edits if kind in CONTENT_KINDS)
        undone.difference_update(active)
    return undone
