"""Where the database lives and how to open it: one engine and sessionmaker per process.

`database_url(cli_value)` picks the URL: the `--db` option, else the `AU_ANNOTATOR_DB`
environment variable, else a SQLite file in the per-user data folder
(`platformdirs.user_data_dir("au-annotator")/annotations.sqlite3`, e.g.
`~/.local/share/au-annotator/annotations.sqlite3` on Linux). Any SQLAlchemy URL works.

`open_database(url)` upgrades the schema to the newest Alembic revision the first time a
process opens a URL, then hands out the process's sessionmaker. Callers own transactions:
`with open_database(url).begin() as session: ...`.

SQLite connections run in WAL mode with foreign keys on, wait up to 30 s for a busy database,
and start every transaction with BEGIN IMMEDIATE: a transaction takes the write lock before its
first read, so two processes writing at once queue up instead of one failing with
"database is locked" when it turns from reading to writing.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

ENV_VARIABLE = "AU_ANNOTATOR_DB"
DATABASE_FILE = "annotations.sqlite3"
SQLITE_BUSY_TIMEOUT_S = 30.0
DATABASE_OPTION_HELP = (
    f"SQLAlchemy database URL or SQLite file (default: ${ENV_VARIABLE}, else "
    f"{DATABASE_FILE} in the per-user data folder)"
)

_lock = threading.Lock()
# keyed by (process id, URL): a forked child must not reuse its parent's connections
_engines: dict[tuple[int, str], Engine] = {}
_sessionmakers: dict[tuple[int, str], sessionmaker[Session]] = {}


def default_database_path() -> Path:
    return Path(platformdirs.user_data_dir("au-annotator")) / DATABASE_FILE


def database_url(cli_value: str | None = None) -> str:
    """The database URL to use: `--db` value, else $AU_ANNOTATOR_DB, else the per-user file.

    A plain path (no `://`) is taken as a SQLite file.
    """
    value = cli_value or os.environ.get(ENV_VARIABLE)
    if not value:
        path = default_database_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    return value


def get_engine(url: str) -> Engine:
    """This process's engine for `url` (created once; SQLite pragmas set on every connection)."""
    key = (os.getpid(), url)
    with _lock:
        if key not in _engines:
            _engines[key] = _create_engine(url)
        return _engines[key]


def open_database(url: str | None = None) -> sessionmaker[Session]:
    """This process's sessionmaker for `url` (default: `database_url()`), schema upgraded."""
    from db.migrate import upgrade  # migrations import the models; keep this module light

    url = url or database_url()
    key = (os.getpid(), url)
    with _lock:
        if key in _sessionmakers:
            return _sessionmakers[key]
    engine = get_engine(url)
    upgrade(engine)
    with _lock:
        return _sessionmakers.setdefault(key, sessionmaker(engine, expire_on_commit=False))


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection, connection_record) -> None:
    # the driver's own implicit BEGIN would skip DDL and SELECTs; SQLAlchemy emits BEGIN instead
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_immediate(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
