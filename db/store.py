"""The store handle: one database opened once, handed to whoever works on it.

`Store(url)` opens the database (schema upgraded on first open in this process) and gives
short transactions: `with store.write() as session:` takes the write lock (SQLite's BEGIN
IMMEDIATE), `with store.read() as session:` never does (pages drawing what is stored). The
caller owns each transaction; functions in `db` take the session.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from db.engine import open_database, printable_url


class Store:
    """One database: its URL and this process's session factories for it."""

    def __init__(self, url: str):
        self.url = url
        self._writer = open_database(url)
        self._reader = open_database(url, read_only=True)

    def write(self) -> AbstractContextManager[Session]:
        """A transaction that may write; committed when the block ends without an error."""
        return self._writer.begin()

    def read(self) -> AbstractContextManager[Session]:
        """A transaction that only reads (it must not write)."""
        return self._reader.begin()

    def __repr__(self) -> str:
        return f"Store({printable_url(self.url)!r})"
