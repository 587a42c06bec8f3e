"""A page's redraw reuses the coder's painted labels and applies only the edits stored since
(db.painted_tracks): what it shows must always equal the labels painted afresh from every
correction (what a write transaction, which never uses the kept paint, computes)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sqlalchemy import func, select

import db
from db import painted_tracks
from db.painted_tracks import forget_all
from model.au_sets import au_names

FRAMES = 400
CODERS = ("ana", "ben")


@pytest.fixture
def video_id(sessions, make_video, make_run):
    forget_all()
    rng = np.random.default_rng(3)
    with sessions.begin() as session:
        video = make_video(session, "painted", frames=FRAMES)
        probabilities = rng.random((FRAMES, 8)).astype(np.float32)
        probabilities[50:70] = np.nan
        make_run(session, video, probabilities, window=3)
        return video.id


def _same_as_painted_afresh(sessions, readers, video_id: int, coder: str,
                            au_set: str | None = None, frames: slice | None = None) -> None:
    with readers.begin() as session:  # read-only: the kept paint
        kept = db.effective_labels(session, db.get_video(session, video_id), coder,
                                   au_set=au_set, frames=frames)
    with sessions.begin() as session:  # a write transaction paints afresh
        fresh = db.effective_labels(session, db.get_video(session, video_id), coder,
                                    au_set=au_set, frames=frames)
        session.rollback()
    assert kept.au_set == fresh.au_set and kept.run_id == fresh.run_id
    for name in ("labels", "reviewed", "prefill", "face"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(fresh, name), err_msg=name)


@pytest.mark.parametrize("kept", [32, 1])  # 1: each coder's paint pushes the other's out
def test_random_edits_undos_and_redos_redraw_as_painted_afresh(sessions, sqlite_url, video_id,
                                                                kept, monkeypatch):
    monkeypatch.setattr(painted_tracks, "CACHED_TRACKS", kept)
    readers = db.open_database(sqlite_url, read_only=True)
    rng = random.Random(11)
    aus = au_names("abaw2020")
    for step in range(160):
        coder = rng.choice(CODERS)
        action = rng.choices(("correct", "accept", "undo", "redo", "settings"),
                             (0.5, 0.15, 0.2, 0.12, 0.03))[0]
        with sessions.begin() as session:
            video = db.get_video(session, video_id)
            first = rng.randrange(FRAMES)
            last = min(FRAMES - 1, first + rng.randrange(120))
            if action == "correct":
                chosen = rng.sample(aus, rng.randint(1, 3))
                db.record_edit(session, video, coder, [
                    db.Interval(au, first, last, rng.choice((1, 0, -1))) for au in chosen])
            elif action == "accept":
                db.accept_prefill(session, video, coder, first, last)
            elif action == "undo":
                db.undo(session, video, coder)
            elif action == "redo":
                db.redo(session, video, coder)
            else:
                db.set_prefill_settings(session, video_id, coder, rng.choice((1, 5, 9)),
                                        {au: rng.uniform(0.3, 0.7) for au in aus})
        _same_as_painted_afresh(sessions, readers, video_id, coder)
        if step % 20 == 0:
            _same_as_painted_afresh(sessions, readers, video_id, coder,
                                    frames=slice(first, last + 1))
    with readers.begin() as session:
        undos = session.scalar(select(func.count(db.Edit.id)).where(db.Edit.kind == "undo"))
        redos = session.scalar(select(func.count(db.Edit.id)).where(db.Edit.kind == "redo"))
    assert undos > 10 and redos > 5  # the walk did exercise both
    # the redraws did keep their paint (one per coder and settings they had), within the bound
    assert painted_tracks.kept() == 1 if kept == 1 else painted_tracks.kept() >= len(CODERS)


def test_an_edit_stored_below_the_newest_painted_is_seen(sessions, sqlite_url, video_id):
    """PostgreSQL may commit a coder's edit with a lower id after one with a higher id."""
    readers = db.open_database(sqlite_url, read_only=True)
    with sessions.begin() as session:
        coder_id = db.coder_named(session, "ana").id
        subject_id = db.subject_row(session, video_id, 1).id
        for edit_id, first in ((10, 0), (20, 100)):
            session.execute(db.Edit.__table__.insert(), {
                "id": edit_id, "video_id": video_id, "coder_id": coder_id,
                "subject_id": subject_id, "kind": "edit"})
            session.execute(db.Correction.__table__.insert(), {
                "edit_id": edit_id, "au": "AU12", "first_frame": first,
                "last_frame": first + 50, "value": 1})
    _same_as_painted_afresh(sessions, readers, video_id, "ana")
    with sessions.begin() as session:  # a late commit below edit 20, and a new edit above it
        for edit_id, au, first in ((15, "AU4", 200), (25, "AU1", 300)):
            session.execute(db.Edit.__table__.insert(), {
                "id": edit_id, "video_id": video_id, "coder_id": coder_id,
                "subject_id": subject_id, "kind": "edit"})
            session.execute(db.Correction.__table__.insert(), {
                "edit_id": edit_id, "au": au, "first_frame": first, "last_frame": first + 60,
                "value": 0})
    with readers.begin() as session:
        seen = db.effective_labels(session, db.get_video(session, video_id), "ana")
    au4 = seen.aus.index("AU4")
    assert seen.reviewed[200:261, au4].all() and (seen.labels[200:261, au4] == 0).all()
    _same_as_painted_afresh(sessions, readers, video_id, "ana")


def test_imported_labels_outside_the_run_s_au_set_switch_the_redraw_to_the_wider_set(
        sessions, sqlite_url, video_id):
    readers = db.open_database(sqlite_url, read_only=True)
    with sessions.begin() as session:
        db.correct(session, db.get_video(session, video_id), "ana", "AU12", 10, 40, 1)
    _same_as_painted_afresh(sessions, readers, video_id, "ana")
    with sessions.begin() as session:
        db.record_edit(session, db.get_video(session, video_id), "ana",
                       [db.Interval("AU7", 0, 99, 1)], kind="import")
    with readers.begin() as session:
        seen = db.effective_labels(session, db.get_video(session, video_id), "ana")
    assert seen.au_set == "abaw12" and seen.labels[:100, seen.aus.index("AU7")].all()
    _same_as_painted_afresh(sessions, readers, video_id, "ana")
    _same_as_painted_afresh(sessions, readers, video_id, "ana", au_set="abaw2020")
    with sessions.begin() as session:  # the import undone: the run's AU set again
        db.undo(session, db.get_video(session, video_id), "ana")
    with readers.begin() as session:
        assert db.effective_labels(session, db.get_video(session, video_id),
                                   "ana").au_set == "abaw2020"
    _same_as_painted_afresh(sessions, readers, video_id, "ana")
    with sessions.begin() as session:  # and redone: the wider set
        db.redo(session, db.get_video(session, video_id), "ana")
    _same_as_painted_afresh(sessions, readers, video_id, "ana")
