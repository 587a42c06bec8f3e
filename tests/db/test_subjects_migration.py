"""Upgrading a database made before subjects: every video becomes a video with subject 1, a
two-person video's left and right corrections become subjects of their own, and every label a
coder stored reads back the same."""

from __future__ import annotations

import numpy as np
import pytest
from alembic import command
from sqlalchemy import text

import db
from db.engine import alembic_config, get_engine

FRAMES = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, sqlite_url):
    """A fresh database file, or a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return sqlite_url
    return request.getfixturevalue("postgresql_database")


def _insert(connection, table: str, **values) -> int:
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)
    return connection.execute(text(f"SELECT max(id) FROM {table}")).scalar_one()


def _database_before_subjects(url: str) -> None:
    """Revision 0004: one video with a run (no face on 10 frames) and alice's corrections
    without a side, on the left and on the right."""
    probabilities = np.full((FRAMES, 8), 0.2, np.float32)
    probabilities[30:] = np.nan
    now = "2026-11-01 00:00:00"
    with get_engine(url).begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        coder = _insert(connection, "coders", name="alice", created_at=now, is_admin=False,
                        disabled=False)
        video = _insert(connection, "videos", content_hash="a" * 64, path="/v/talk.mp4",
                        name="talk", fps=30.0, frame_count=FRAMES, width=640, height=360,
                        created_at=now, updated_at=now)
        _insert(connection, "prediction_runs", video_id=video, au_set="abaw2020",
                parameters='{"au_set": "abaw2020", "thresholds": {"AU1": 0.5, "AU2": 0.5, '
                           '"AU4": 0.5, "AU6": 0.5, "AU12": 0.5, "AU15": 0.5, "AU20": 0.5, '
                           '"AU25": 0.5}, "smoothing_window": 1}',
                frame_count=FRAMES, probabilities=probabilities.astype("<f4").tobytes(),
                prefill=np.zeros((FRAMES, 8), np.int8).tobytes(), created_at=now)
        for side, value in ((None, 1), ("left", 0), ("right", -1)):
            edit = _insert(connection, "edits", video_id=video, coder_id=coder, side=side,
                           kind="edit", created_at=now)
            _insert(connection, "corrections", edit_id=edit, au="AU12", first_frame=5,
                    last_frame=9, value=value)


def test_every_video_gets_subject_one_and_sides_become_subjects(url):
    _database_before_subjects(url)
    with db.open_database(url).begin() as session:
        (video,) = db.list_videos(session)
        subjects = db.video_subjects(session, video.id)
        assert [(s.number, s.frames_seen) for s in subjects] == [(1, 30), (2, None), (3, None)]
        assert db.left_and_right_subjects(session, video.id) == (2, 3)
        assert db.prefilled_subjects(session, video.id) == {1}


def test_every_stored_correction_reads_back_on_its_subject(url):
    _database_before_subjects(url)
    with db.open_database(url).begin() as session:
        (video,) = db.list_videos(session)
        au12 = 4
        for subject, value in ((1, 1), (2, 0), (3, -1)):
            labels = db.effective_labels(session, video, "alice", subject)
            assert labels.reviewed[:, au12].tolist() == [5 <= f <= 9 for f in range(FRAMES)]
            assert (labels.labels[5:10, au12] == value).all()
        assert db.tracks(session, video.id) == [db.Track("alice", n) for n in (1, 2, 3)]


def test_going_back_to_the_previous_revision_gives_the_sides_back(url):
    _database_before_subjects(url)
    db.open_database(url)
    with get_engine(url).begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    with get_engine(url).connect() as connection:
        sides = connection.execute(text("SELECT side FROM edits ORDER BY id")).scalars().all()
        kept = connection.execute(text("SELECT count(*) FROM corrections")).scalar_one()
    assert sides == [None, "left", "right"] and kept == 3
