"""Alembic migrations, run from inside the package so upgrade-on-open works from any folder.

Developers write a new revision with `alembic -c db/alembic.ini revision -m "..."` (the
`--autogenerate` flag compares db/models.py with the database named by `--db`/AU_ANNOTATOR_DB).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

logger = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parent
# any constant works: it only has to be the same in every process that migrates
_POSTGRES_MIGRATION_LOCK = 0x61752D61


def alembic_config() -> Config:
    config = Config(str(_PACKAGE / "alembic.ini"))
    config.set_main_option("script_location", str(_PACKAGE / "migrations"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision, in one transaction (nothing half-done).

    Several processes may open a fresh database at once: SQLite's BEGIN IMMEDIATE (see
    db.engine) and an advisory lock on PostgreSQL make them migrate one after another.
    """
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_POSTGRES_MIGRATION_LOCK})")
        found = MigrationContext.configure(connection).get_current_revision()
        if found == script.get_current_head():
            return
        if found is not None and found not in {r.revision for r in script.walk_revisions()}:
            where = engine.url.render_as_string(hide_password=True)
            raise RuntimeError(
                f"{where}: database schema revision {found} is newer than this au-annotator "
                "knows; install a newer au-annotator"
            )
        logger.info("upgrading database schema from %s to %s", found, script.get_current_head())
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
