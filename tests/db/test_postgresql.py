"""The same store on a real PostgreSQL server (started by the test setup; skipped without one)."""

from __future__ import annotations

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

import db
from db.engine import current_revision, head_revision
from db.tables import Base


@pytest.fixture
def pg_url(postgresql_database):
    """A fresh, empty database on the session's server."""
    return postgresql_database


def test_opening_a_postgresql_database_creates_the_newest_schema(pg_url):
    db.open_database(pg_url)
    engine = db.get_engine(pg_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_corrections_undo_and_effective_labels_on_postgresql(pg_url, make_video, make_run):
    sessions = db.open_database(pg_url)
    probabilities = np.zeros((300, 8), np.float32)
    probabilities[:, 4] = 0.9
    probabilities[50:60] = np.nan
    with sessions.begin() as session:
        video = make_video(session)
        make_run(session, video, probabilities)
        db.correct(session, video, "alice", "AU12", 0, 9, 0)
        db.correct(session, video, "alice", "AU12", 5, 9, -1)
        db.undo(session, video, "alice")
    with sessions.begin() as session:
        labels = db.effective_labels(session, db.get_video(session, video.id), "alice")
        history = db.history(session, video.id)
    assert (labels.labels[:10, 4] == 0).all() and (labels.labels[10:50, 4] == 1).all()
    assert (labels.labels[50:60] == -1).all()
    assert [row.undone for row in history] == [False, True, False]


def test_postgresql_refuses_two_active_model_versions(pg_url):
    sessions = db.open_database(pg_url)
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            session.add(db.ModelVersion(path="a", au_set="abaw2020", active=True))
            session.add(db.ModelVersion(path="b", au_set="abaw2020", active=True))
