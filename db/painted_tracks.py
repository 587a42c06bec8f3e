"""A coder's labels painted over the pre-fill, kept between page redraws and brought up to date
by the edits stored since, instead of painted again from every correction of the track.

A page redraws after each action of its coder, and painting a track's corrections again costs
time that grows with them (4-5 ms of interpreter time after a thousand edits on a 30-minute
video, which every other coder's page waits for). Edits are append-only (db.corrections), so a
painted track stays right while its newest edit and its number of edits are unchanged; when
edits were added above the newest one painted, only they are applied: a new edit or a redo is
painted on top, an undo repaints the frames its edit covered. Anything else (an edit committed
below the newest one painted, as PostgreSQL may commit two transactions of one coder out of id
order; a redo that is not the newest active edit; active edits whose AUs call for another AU
set, as importing or undoing 12-AU labels on an 8-AU video does) paints the track again from
all its corrections.

Only transactions that read (db.engine's read-only sessions) use it: what a write transaction
sees may still be rolled back, and SQLite may then give the rolled-back edit's id to another.
The key holds the subject's run (its id and time) and the coder's smoothing and thresholds,
so a new run or new settings paint afresh. Entries never change once stored; callers get
copies.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.corrections import CONTENT_KINDS, replay_edits, track_filter
from db.tables import Correction, Edit

CACHED_TRACKS = 32  # about 1.4 MB each for a 30-minute video with the 8-AU set
CACHED_BYTES = 128 * 2**20  # and at most this much of arrays (long videos: fewer tracks)
_painted: OrderedDict[tuple, Painted] = OrderedDict()
_lock = threading.Lock()
_EVENT = (Correction.edit_id, Correction.au, Correction.first_frame, Correction.last_frame,
          Correction.value)


@dataclass(frozen=True)
class Painted:
    """One track painted as of its `newest` edit (of `count`), read-only arrays."""

    newest: int | None
    count: int
    active: tuple[int, ...]  # edit ids that count, oldest first
    undone: tuple[int, ...]  # edit ids redo would restore, oldest first
    contents: dict[int, np.ndarray]  # content edit id → (n, 4) int64 AU column, first, last, value
    names: dict[int, frozenset[str]]  # content edit id → the AUs its corrections name
    au_set: str
    aus: tuple[str, ...]
    labels: np.ndarray  # (T, K) int8: the pre-fill with the active corrections painted on
    reviewed: np.ndarray  # (T, K) bool
    prefill: np.ndarray  # (T, K) int8
    face: np.ndarray  # (T,) bool


def reads_only(session: Session) -> bool:
    """The session is one of db.engine's read-only ones (it sees committed rows only)."""
    return bool(session.connection().get_execution_options().get("au_read_only", False))


def painted_track(
    session: Session,
    key: tuple,
    track: tuple[int, int, int],
    prefill: Callable[[tuple[str, ...]], tuple[np.ndarray, np.ndarray]],
    choose_au_set: Callable[[frozenset[str]], tuple[str, tuple[str, ...]]],
) -> Painted:
    """The track (video id, coder id, subject id) painted as it is stored now. `key` names
    what else it was painted from (database, run, settings, AU set asked for);
    `choose_au_set(used AUs)` names the AU set (its name and AUs) and `prefill(aus)` gives its
    (T, K) pre-fill and (T,) face mask, called only when the track is painted afresh. Kept and
    brought up to date for a read-only session; painted afresh for any other."""
    newest, count = session.connection().execute(
        select(func.max(Edit.id), func.count(Edit.id)).where(*track_filter(*track))).one()
    if not reads_only(session):
        return _painted_afresh(session, track, newest, count, prefill, choose_au_set, keep=False)
    with _lock:
        found = _painted.get(key)
        if found is not None:
            _painted.move_to_end(key)
    if found is not None and (found.newest, found.count) == (newest, count):
        return found
    updated = None
    if found is not None and found.newest is not None:
        updated = _brought_up_to_date(session, found, track, count, choose_au_set)
    if updated is None:
        updated = _painted_afresh(session, track, newest, count, prefill, choose_au_set)
    with _lock:
        _painted[key] = updated
        _painted.move_to_end(key)
        while len(_painted) > CACHED_TRACKS or (
                len(_painted) > 1 and sum(map(_size, _painted.values())) > CACHED_BYTES):
            _painted.popitem(last=False)
    return updated


def kept() -> int:
    """How many painted tracks are kept now."""
    with _lock:
        return len(_painted)


def forget_all() -> None:
    """Drop every painted track (tests comparing against a fresh paint)."""
    with _lock:
        _painted.clear()


def _painted_afresh(session, track, newest, count, prefill, choose_au_set,
                    keep: bool = True) -> Painted:
    """The track painted from all its corrections; what a later update needs (each edit's
    events and AUs) only when it is to be `keep`t."""
    edits = session.connection().execute(
        select(Edit.id, Edit.kind, Edit.target_edit_id).where(*track_filter(*track))
        .order_by(Edit.id)).all()
    active, undone = replay_edits(edits)
    rows = session.connection().execute(
        select(*_EVENT).join(Correction.edit).where(*track_filter(*track))
        .order_by(Correction.id)).all()
    counted = set(active)
    rows_counted = [row for row in rows if row[0] in counted]
    au_set, aus = choose_au_set(frozenset(row[1] for row in rows_counted))
    prefill_labels, face = prefill(aus)
    # correction ids grow with time and a redone edit has no newer active edit above it, so
    # row order is the order events apply in; each painted on a (K, T) row, a contiguous slice
    labels = np.ascontiguousarray(prefill_labels.T)
    reviewed = np.zeros(labels.shape, dtype=bool)
    column = {au: k for k, au in enumerate(aus)}
    for _, au, first, last, value in rows_counted:
        k = column.get(au)
        if k is not None and last >= first:
            labels[k, first : last + 1] = value
            reviewed[k, first : last + 1] = True
    contents, names = (_contents(rows, aus), _names(rows)) if keep else ({}, {})
    return _frozen(Painted(newest, count, tuple(active), tuple(undone), contents, names, au_set,
                           aus, np.ascontiguousarray(labels.T), np.ascontiguousarray(reviewed.T),
                           prefill_labels, face))


def _brought_up_to_date(session, found: Painted, track, count, choose_au_set) -> Painted | None:
    """`found` with the edits stored above its newest one applied; None when it cannot be (see
    the module)."""
    edits = session.connection().execute(
        select(Edit.id, Edit.kind, Edit.target_edit_id)
        .where(*track_filter(*track), Edit.id > found.newest).order_by(Edit.id)).all()
    if not edits or found.count + len(edits) != count:  # one committed below the newest painted
        return None
    new_content = [edit_id for edit_id, kind, _ in edits if kind in CONTENT_KINDS]
    rows = session.connection().execute(
        select(*_EVENT).where(Correction.edit_id.in_(new_content))
        .order_by(Correction.id)).all() if new_content else []
    names = {**found.names, **_names(rows)}
    contents = dict(found.contents)
    contents.update(_contents(rows, found.aus))
    active, undone = list(found.active), list(found.undone)
    labels, reviewed = found.labels.copy(), found.reviewed.copy()
    prefill = found.prefill
    for edit_id, kind, target in edits:
        if kind == "undo":
            if target not in active:
                return None
            active.remove(target)
            undone.append(target)
            _unpaint(labels, reviewed, prefill, contents, active, contents.get(target))
        elif kind == "redo":
            if target not in undone or (active and target < active[-1]):
                return None
            undone.remove(target)
            active.append(target)
            _paint(labels, reviewed, contents.get(target))
        else:
            active.append(edit_id)
            undone.clear()
            _paint(labels, reviewed, contents.get(edit_id))
    if choose_au_set(_used(names, active))[0] != found.au_set:  # the AUs in use left the set
        return None
    return _frozen(replace(found, newest=edits[-1][0], count=count, active=tuple(active),
                           undone=tuple(undone), contents=contents, names=names,
                           labels=labels, reviewed=reviewed))


def _names(rows) -> dict[int, frozenset[str]]:
    """Correction rows (edit id, au, ...) as the AUs each edit names."""
    grouped: dict[int, set[str]] = {}
    for edit_id, au, *_ in rows:
        grouped.setdefault(edit_id, set()).add(au)
    return {edit_id: frozenset(aus) for edit_id, aus in grouped.items()}


def _used(names: dict[int, frozenset[str]], active) -> frozenset[str]:
    """The AUs the active edits name: what the AU set is chosen by."""
    return frozenset().union(*(names.get(edit_id, ()) for edit_id in active))


def _contents(rows, aus: tuple[str, ...]) -> dict[int, np.ndarray]:
    """Correction rows (edit id, au, first, last, value) as events per edit, in row order; an
    AU outside `aus` gets column -1 (not painted)."""
    column = {au: k for k, au in enumerate(aus)}
    grouped: dict[int, list] = {}
    for edit_id, au, first, last, value in rows:
        grouped.setdefault(edit_id, []).append((column.get(au, -1), first, last, value))
    return {edit_id: np.array(events, dtype=np.int64).reshape(-1, 4)
            for edit_id, events in grouped.items()}


def _paint(labels: np.ndarray, reviewed: np.ndarray, events: np.ndarray | None) -> None:
    if events is None:
        return
    for k, first, last, value in events.tolist():
        if k >= 0 and last >= first:
            labels[first : last + 1, k] = value
            reviewed[first : last + 1, k] = True


def _unpaint(labels, reviewed, prefill, contents, active, events) -> None:
    """Repaint the frames an undone edit's `events` covered from the pre-fill and the `active`
    edits that cover them, oldest first."""
    if events is None or not len(events):
        return
    painted = [contents[e] for e in active if e in contents]
    under = np.concatenate(painted) if painted else np.zeros((0, 4), np.int64)
    for k, first, last, _ in events.tolist():
        if k < 0 or last < first:
            continue
        labels[first : last + 1, k] = prefill[first : last + 1, k]
        reviewed[first : last + 1, k] = False
        hits = (under[:, 0] == k) & (under[:, 1] <= last) & (under[:, 2] >= first)
        for _, start, end, value in under[hits].tolist():
            start, end = max(start, first), min(end, last)
            labels[start : end + 1, k] = value
            reviewed[start : end + 1, k] = True


def _size(painted: Painted) -> int:
    return sum(a.nbytes for a in (painted.labels, painted.reviewed, painted.prefill, painted.face))


def _frozen(painted: Painted) -> Painted:
    for array in (painted.labels, painted.reviewed, painted.prefill, painted.face):
        array.flags.writeable = False
    return painted


def settings_key(settings) -> tuple | None:
    """The part of the key a coder's PrefillSettings row (or None) gives: what it holds, not
    its time (two changes may share a clock tick)."""
    if settings is None:
        return None
    return settings.smoothing_window, tuple(sorted((settings.thresholds or {}).items()))
