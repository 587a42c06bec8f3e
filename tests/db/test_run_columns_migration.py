"""Revision 0008 moves a prediction run's arrays to the last columns on SQLite (reading the
run's time or subject no longer walks its arrays): a run stored before reads back the same,
with its indexes and foreign keys."""

from __future__ import annotations

import numpy as np
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

import db
from db.engine import alembic_config, get_engine

ARRAYS_LAST = ["id", "video_id", "subject_id", "model_version_id", "au_set", "parameters",
               "frame_count", "created_at", "probabilities", "prefill"]


def _columns(url: str) -> list[str]:
    with get_engine(url).connect() as connection:
        return [row[1] for row in connection.execute(text("PRAGMA table_info(prediction_runs)"))]


def test_a_new_database_keeps_the_run_arrays_last(sqlite_url):
    db.open_database(sqlite_url)
    assert _columns(sqlite_url) == ARRAYS_LAST


def test_a_run_stored_before_reads_back_the_same_after_the_upgrade(sqlite_url, make_video,
                                                                    make_run):
    with get_engine(sqlite_url).begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
    assert _columns(sqlite_url)[-3:] == ["prefill", "created_at", "subject_id"]
    probabilities = np.random.default_rng(0).random((90, 8)).astype(np.float32)
    probabilities[10:20] = np.nan
    with Session(get_engine(sqlite_url)) as session, session.begin():  # still revision 0007
        video_id = make_video(session, "old", frames=90).id
        run = make_run(session, session.get(db.Video, video_id), probabilities, window=5)
        before = (run.id, run.subject_id, run.created_at, bytes(run.prefill))
    assert _columns(sqlite_url)[-3:] == ["prefill", "created_at", "subject_id"]
    with db.open_database(sqlite_url, read_only=True).begin() as session:  # upgrades
        latest = db.latest_prediction_run(session, video_id)
        assert (latest.id, latest.subject_id, latest.created_at, latest.prefill) == before
        np.testing.assert_array_equal(db.run_probabilities(latest), probabilities)
    assert _columns(sqlite_url) == ARRAYS_LAST
    with get_engine(sqlite_url).connect() as connection:
        indexes = {row[1] for row in connection.execute(text("PRAGMA index_list(prediction_runs)"))}
        targets = {row[2] for row in connection.execute(
            text("PRAGMA foreign_key_list(prediction_runs)"))}
    assert {"ix_prediction_runs_video_id", "ix_prediction_runs_subject_id"} <= indexes
    assert targets == {"videos", "subjects", "model_versions"}
