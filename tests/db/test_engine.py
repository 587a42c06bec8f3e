"""Opening a database: where it lives, SQLite settings, migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

import db
from db.engine import current_revision, head_revision, upgrade
from db.tables import Base
from model.errors import InputError


def test_cli_value_beats_environment_which_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("AU_ANNOTATOR_DB", "postgresql+psycopg://u@h/labels")
    assert db.database_url("sqlite:///x.sqlite3") == "sqlite:///x.sqlite3"
    assert db.database_url(None) == "postgresql+psycopg://u@h/labels"
    monkeypatch.delenv("AU_ANNOTATOR_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = tmp_path / "data" / "au-annotator" / "annotations.sqlite3"
    assert db.database_url(None) == f"sqlite:///{default}"
    assert default.parent.is_dir()


def test_a_plain_path_is_a_sqlite_file(tmp_path):
    assert db.database_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"


def test_opening_a_new_file_creates_the_newest_schema(sqlite_url):
    db.open_database(sqlite_url)
    engine = db.get_engine(sqlite_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert differences == [], "db/models.py changed without a migration"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url):
    db.open_database(sqlite_url)
    with db.get_engine(sqlite_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_foreign_keys_are_enforced(sessions):
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            session.add(db.Edit(video_id=999, coder_id=999, kind="edit"))


def test_data_survives_reopening_by_another_process_engine(sqlite_url, make_video):
    with db.open_database(sqlite_url).begin() as session:
        make_video(session, "kept")
    # a second engine stands for a restarted program: the upgrade check must keep the data
    fresh = create_engine(sqlite_url)
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT name FROM videos")).scalars().all() == ["kept"]
    fresh.dispose()


def test_a_database_from_a_newer_version_is_refused(sqlite_url):
    db.open_database(sqlite_url)
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(InputError, match="9999.*newer than this au-annotator"):
        upgrade(db.get_engine(sqlite_url))
