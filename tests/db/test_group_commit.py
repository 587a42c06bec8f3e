"""Coders' edits committed together (db.group_commit, through Store.write_together), on a real
SQLite file with real threads: every edit stored, each caller hears of its own edit only, and
only once it is on disk."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import db
from db.group_commit import GroupCommit
from tests.helpers.polling import poll_until

CODERS = 16
EDITS_EACH = 12


@pytest.fixture
def store(sqlite_url) -> db.Store:
    return db.Store(sqlite_url)


@pytest.fixture
def video_id(store, make_video) -> int:
    with store.write() as session:
        video_id = make_video(session, frames=1000).id
        for number in range(CODERS):
            db.coder_named(session, f"coder{number}")
    return video_id


def _key(store, video_id, coder) -> db.TrackKey:
    with store.read() as session:
        return db.track_key(session, video_id, coder)


def _appender(key, intervals, kind="edit"):
    return lambda session: db.append_edit(session, key, intervals, kind)


def _stored(database_file, edit_id) -> list[tuple]:
    """(au, first, last, value) of an edit, read by a fresh connection of its own."""
    connection = sqlite3.connect(database_file)
    try:
        return connection.execute(
            "SELECT au, first_frame, last_frame, value FROM corrections WHERE edit_id = ? "
            "ORDER BY id", (edit_id,)).fetchall()
    finally:
        connection.close()


def test_sixteen_coders_editing_at_once_get_every_edit_stored_as_made(store, video_id,
                                                                      sqlite_url):
    database_file = db.database_file(sqlite_url)
    start = threading.Barrier(CODERS)
    made: dict[int, list[tuple]] = {}  # edit id -> its intervals, as each caller was answered
    unseen = []  # edits a fresh connection did not find the moment their call returned

    def coder(number: int) -> None:
        key = _key(store, video_id, f"coder{number}")
        start.wait()
        for i in range(EDITS_EACH):
            intervals = [db.Interval(au, number * 50 + i, number * 50 + i + 5, i % 2)
                         for au in ("AU1", "AU12")]
            edit_id = store.write_together(_appender(key, intervals))
            found = _stored(database_file, edit_id)
            if found != [(i.au, i.first_frame, i.last_frame, i.value) for i in intervals]:
                unseen.append((edit_id, found))
            made[edit_id] = [(number, *row) for row in found]

    threads = [threading.Thread(target=coder, args=(n,)) for n in range(CODERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert unseen == []
    assert len(made) == CODERS * EDITS_EACH
    with store.read() as session:
        rows = db.history(session, video_id)
    stored: dict[int, list[tuple]] = {}
    for row in rows:
        stored.setdefault(row.edit_id, []).append(
            (int(row.coder.removeprefix("coder")), row.au, row.first_frame, row.last_frame,
             row.value))
    assert stored == made


def _queue_behind_a_held_edit(edits: GroupCommit, held: threading.Event, first, named: dict,
                              results: dict) -> list[threading.Thread]:
    """Start `first` (which waits for `held` inside its batch), then each named edit, one
    after another in the queue behind it; each thread's outcome lands in `results`."""

    def call(name, work):
        try:
            results[name] = edits.run(work)
        except Exception as error:
            results[name] = error

    threads = []
    for number, (name, work) in enumerate({"first": first, **named}.items(), start=1):
        threads.append(threading.Thread(target=call, args=(name, work)))
        threads[-1].start()
        poll_until(lambda: edits.queued, lambda queued, n=number: queued == n, timeout_s=10,
                   interval_s=0.01, what=f"{name!r} queued")
    return threads


def test_an_edit_that_fails_alone_tells_its_own_caller_while_its_batch_is_stored(
        store, video_id, sessions):
    key = _key(store, video_id, "coder0")
    gone_video = db.TrackKey(video_id + 99, 1000, key.coder_id, key.subject_id)
    edits, held, results = GroupCommit(sessions), threading.Event(), {}

    def first_in_line(session):
        held.wait(30)  # the edits below queue up meanwhile: they form the next batch
        return db.append_edit(session, key, [db.Interval("AU1", 0, 9, 1)])

    def half_then_raise(session):
        db.append_edit(session, key, [db.Interval("AU2", 0, 9, 1)])
        raise RuntimeError("the page went away half-way")

    threads = _queue_behind_a_held_edit(edits, held, first_in_line, {
        "good before": _appender(key, [db.Interval("AU4", 10, 19, 1)]),
        "frames outside the video": _appender(key, [db.Interval("AU4", 990, 1000, 1)]),
        "no such video": _appender(gone_video, [db.Interval("AU4", 0, 9, 1)]),
        "half written": half_then_raise,
        "good after": _appender(key, [db.Interval("AU6", 20, 29, 0)]),
    }, results)
    held.set()
    for thread in threads:
        thread.join(30)

    assert isinstance(results["frames outside the video"], ValueError)
    assert "990..1000 outside video" in str(results["frames outside the video"])
    assert isinstance(results["no such video"], IntegrityError)
    assert str(results["half written"]) == "the page went away half-way"
    stored_ids = [results[name] for name in ("first", "good before", "good after")]
    assert all(isinstance(edit_id, int) for edit_id in stored_ids), results
    with store.read() as session:
        rows = db.history(session, video_id)
    assert [(row.edit_id, row.au) for row in rows] == list(
        zip(stored_ids, ("AU1", "AU4", "AU6"), strict=True))


def test_a_batch_whose_commit_fails_acknowledges_none_of_its_edits(store, video_id, sessions):
    key = _key(store, video_id, "coder0")
    gone_video = db.TrackKey(video_id + 99, 1000, key.coder_id, key.subject_id)
    edits, held, results = GroupCommit(sessions), threading.Event(), {}

    def first_in_line(session):
        held.wait(30)
        return db.append_edit(session, key, [db.Interval("AU1", 0, 9, 1)])

    def breaks_the_commit(session):
        # a foreign key checked only at COMMIT: the whole transaction is refused there
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
        return db.append_edit(session, gone_video, [db.Interval("AU2", 0, 9, 1)])

    threads = _queue_behind_a_held_edit(edits, held, first_in_line, {
        "good": _appender(key, [db.Interval("AU4", 0, 9, 1)]),
        "breaks": breaks_the_commit,
    }, results)
    held.set()
    for thread in threads:
        thread.join(30)

    assert isinstance(results["good"], IntegrityError)
    assert results["breaks"] is results["good"]
    after = edits.run(_appender(key, [db.Interval("AU6", 0, 9, 1)]))  # the queue goes on
    with store.read() as session:
        stored = [(row.edit_id, row.au) for row in db.history(session, video_id)]
    assert stored == [(results["first"], "AU1"), (after, "AU6")]
