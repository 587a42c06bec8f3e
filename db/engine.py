"""Where the database lives and how to open it: one engine and sessionmaker per process.

`database_url(cli_value)` picks the URL: the `--db` option, else the `AU_ANNOTATOR_DB`
environment variable, else a SQLite file in the per-user data folder
(`platformdirs.user_data_dir("au-annotator")/annotations.sqlite3`, e.g.
`~/.local/share/au-annotator/annotations.sqlite3` on Linux). Any SQLAlchemy URL works.

`open_database(url)` upgrades the schema to the newest Alembic revision (db/migrations) the
first time a process opens a URL, then hands out the process's sessionmaker. Developers write a
new revision with `alembic -c db/alembic.ini revision -m "..."` (`--autogenerate` compares
db/models.py with the database named by `--db`/AU_ANNOTATOR_DB). Callers own transactions:
`with open_database(url).begin() as session: ...`.

SQLite connections run in WAL mode with foreign keys on, wait up to 30 s for a busy database,
and start every writing transaction with BEGIN IMMEDIATE: it takes the write lock before its
first read, so two processes writing at once queue up instead of one failing with
"database is locked" when it turns from reading to writing. Read-only transactions
(`open_database(url, read_only=True)`) begin DEFERRED and never take the write lock.

Inside one process (the app server: one thread per coder's page) writers also queue on a
first-come, first-served lock (`WriterQueue`) before BEGIN IMMEDIATE, held until the
connection goes back to the pool after its COMMIT. SQLite's own busy wait polls with sleeps
that grow to 100 ms, so under load a writer could lose the race again and again (seconds, with
16 coders); the queue wakes the next writer the moment the last one is done, in arrival order.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import deque
from functools import partial
from pathlib import Path

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from model.errors import InputError

logger = logging.getLogger(__name__)


class DatabaseTooNew(InputError):
    """The database was upgraded by a newer au-annotator: one line naming its URL (password
    hidden), which the CLI and the app print as they print any bad input."""

    def __init__(self, url: str, problem: str):
        Exception.__init__(self, f"{url}: {problem}")
        self.path, self.problem = None, problem

ENV_VARIABLE = "AU_ANNOTATOR_DB"
DATABASE_FILE = "annotations.sqlite3"
SQLITE_BUSY_TIMEOUT_S = 30.0
DATABASE_OPTION_HELP = (
    f"SQLAlchemy database URL or SQLite file (default: ${ENV_VARIABLE}, else "
    f"{DATABASE_FILE} in the per-user data folder)"
)

_PACKAGE = Path(__file__).resolve().parent
# any constant works: it only has to be the same in every process that migrates
_POSTGRES_MIGRATION_LOCK = 0x61752D61

# connections kept once opened (opened only when needed): every page thread and the writer at
# once; 16 coders need 17, and a connection beyond the pool is closed again on its return, so
# with 16 kept each edit paid a fresh connect (16 coders: 82 against 109 actions a second)
SQLITE_POOL_SIZE = 64
SQLITE_POOL_OVERFLOW = 48

_lock = threading.Lock()
# keyed by process id and URL: a forked child must not reuse its parent's connections
_engines: dict[tuple[int, str], Engine] = {}
_sessionmakers: dict[tuple[int, str, bool], sessionmaker[Session]] = {}


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


def printable_url(url: str) -> str:
    """The URL as it may be printed or logged: any password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def database_file(url: str) -> Path | None:
    """The SQLite file behind `url`; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database).expanduser().resolve()
    return None


def get_engine(url: str) -> Engine:
    """This process's engine for `url` (created once; SQLite pragmas set on every connection)."""
    key = (os.getpid(), url)
    with _lock:
        if key not in _engines:
            _engines[key] = _create_engine(url)
        return _engines[key]


def open_database(url: str | None = None, read_only: bool = False) -> sessionmaker[Session]:
    """This process's sessionmaker for `url` (default: `database_url()`), schema upgraded.

    `read_only` transactions (pages drawing what is stored) never take SQLite's write lock, so
    a page full of readers cannot starve a writer (a fine-tune's heartbeat, a correction);
    they must not write."""
    url = url or database_url()
    key = (os.getpid(), url, read_only)
    with _lock:
        if key in _sessionmakers:
            return _sessionmakers[key]
    engine = get_engine(url)
    upgrade(engine)
    bind = engine.execution_options(au_read_only=True) if read_only else engine
    with _lock:
        return _sessionmakers.setdefault(key, sessionmaker(bind, expire_on_commit=False))


def _create_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    sqlite_file = database_file(url)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
                           pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW)
    writers = WriterQueue(SQLITE_BUSY_TIMEOUT_S)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", partial(_begin_immediate, writers))
    event.listen(engine, "checkin", partial(_end_of_write, writers))
    return engine


def _configure_sqlite_connection(dbapi_connection, connection_record) -> None:
    # the driver's own implicit BEGIN would skip DDL and SELECTs; SQLAlchemy emits BEGIN instead
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL with FULL: every commit is synced, so neither a killed process nor a power cut
        # undoes a correction a coder saw stored (NORMAL was quicker under 16 writers, p95 226
        # against 363 ms, but could lose the last commits to a power cut)
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


class WriterQueue:
    """A lock handed on in arrival order: one writing transaction of this process at a time,
    and the writer waiting longest goes next. Only that writer is woken (a thread woken for
    nothing still has to win the interpreter lock, which under load costs milliseconds each).
    A writer that waited `timeout_s` gives up with SQLite's own "database is locked"."""

    def __init__(self, timeout_s: float):
        self._timeout_s = timeout_s
        self._guard = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(self._timeout_s):
            return
        with self._guard:
            if turn.is_set():  # handed over just as the wait ended
                return
            self._waiting.remove(turn)
        raise sqlite3.OperationalError("database is locked")

    def release(self) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().set()  # held on: the next writer's turn
            else:
                self._held = False


_HOLDS_WRITER_QUEUE = "au_holds_writer_queue"


def _begin_immediate(writers: WriterQueue, connection) -> None:
    if connection.get_execution_options().get("au_read_only", False):
        connection.exec_driver_sql("BEGIN")
        return
    if not connection.info.get(_HOLDS_WRITER_QUEUE):
        writers.acquire()
        connection.info[_HOLDS_WRITER_QUEUE] = True
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _end_of_write(writers: WriterQueue, dbapi_connection, connection_record) -> None:
    """A connection back in the pool has committed or rolled back: the next writer's turn."""
    if connection_record.info.pop(_HOLDS_WRITER_QUEUE, False):
        writers.release()


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
            raise DatabaseTooNew(
                where, f"database schema revision {found} is newer than this au-annotator "
                "knows; install a newer au-annotator"
            )
        logger.info("upgrading database schema from %s to %s", found, script.get_current_head())
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
