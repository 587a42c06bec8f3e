"""The store handle: one database opened once, handed to whoever works on it.

`Store(url)` opens the database (schema upgraded on first open in this process) and gives
short transactions: `with store.write() as session:` takes the write lock (SQLite's BEGIN
IMMEDIATE), `with store.read() as session:` never does (pages drawing what is stored). The
caller owns each transaction; functions in `db` take the session. A coder's edit goes through
`store.write_together(work)` instead: it is committed in one transaction with the edits other
coders queued meanwhile (db.group_commit), and the call returns once it is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy.orm import Session

from db.engine import open_database, printable_url
from db.group_commit import group_commit

Result = TypeVar("Result")


class Store:
    """One database: its URL and this process's session factories for it."""

    def __init__(self, url: str):
        self.url = url
        self._writer = open_database(url)
        self._reader = open_database(url, read_only=True)
        self._edits = group_commit(url, self._writer)

    def write(self) -> AbstractContextManager[Session]:
        """A transaction that may write; committed when the block ends without an error."""
        return self._writer.begin()

    def write_together(self, work: Callable[[Session], Result]) -> Result:
        """Run `work(session)` in a savepoint of a write transaction shared with the edits
        queued beside it; returns its result (or raises its error) once that committed. `work`
        should only write and check: work out what to store before, in `read()`."""
        return self._edits.run(work)

    def read(self) -> AbstractContextManager[Session]:
        """A transaction that only reads (it must not write)."""
        return self._reader.begin()

    def __repr__(self) -> str:
        return f"Store({printable_url(self.url)!r})"
