"""Fixtures for the annotation store: a fresh SQLite file per test (the throwaway PostgreSQL
server, `postgresql_url`, is in tests/conftest.py: the fault tests use it too)."""

from __future__ import annotations

import numpy as np
import pytest

import db
from model.au_sets import au_names


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'annotations.sqlite3'}"


@pytest.fixture
def sessions(sqlite_url):
    return db.open_database(sqlite_url)


@pytest.fixture
def make_video():
    """make_video(session, name, frames): register a video (plain values, as the pipeline does)."""
    return _add_video


@pytest.fixture
def make_run():
    """make_run(session, video, probabilities, au_set, threshold, window): store a run."""
    return _add_run


def _add_video(session, name="clip", frames=300, fps=30.0) -> db.Video:
    return db.register_video(
        session,
        content_hash=f"{name}-{frames}".encode().hex().ljust(64, "0")[:64],
        path=f"/videos/{name}.mp4",
        fps=fps,
        frame_count=frames,
        width=640,
        height=360,
    )


def _add_run(session, video, probabilities, au_set="abaw2020", threshold=0.5, window=1):
    parameters = db.PredictionParameters(
        au_set, {au: threshold for au in au_names(au_set)}, window, predictor="geometry-baseline"
    )
    return db.store_prediction_run(session, video, np.asarray(probabilities), parameters)
