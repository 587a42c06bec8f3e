"""Coders' edits of one process committed together: one transaction, one COMMIT (one sync to
disk) for every edit queued while the one before was being written.

An edit is a function of a session, `work(session) -> result`, that only writes what it was
told (and checks, reading a row or two, that what it was worked out from still holds): what to
store is worked out before, in a read transaction. `GroupCommit.run(work)` queues it. The
caller first in the queue leads: it takes every edit queued so far (at most `MOST_PER_BATCH`),
opens one write transaction (BEGIN IMMEDIATE on SQLite, behind db.engine's `WriterQueue`), runs
each edit in a SAVEPOINT of its own, so an edit that raises is rolled back alone and its own
caller gets the error while the others go on, and COMMITs. Only then is each caller handed its
result: nothing is acknowledged before it is durably stored. The leader then wakes the first
caller queued behind its batch, which leads the next one; callers keep their arrival order.

Why: with SQLite one edit's write transaction is a few milliseconds of statements, but under
16 coders on 2 cores each of them waits for the interpreter lock, so the write lock was held
about 11 ms per edit and the edits queued behind it (p95 300-480 ms). A batch pays BEGIN,
COMMIT, the connection's checkout and its reset once for all the edits in it.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MOST_PER_BATCH = 64  # bounds how long one batch holds the write lock
Result = TypeVar("Result")

_lock = threading.Lock()
# keyed by process id and URL, as db.engine keys its engines
_committers: dict[tuple[int, str], GroupCommit] = {}


@dataclass(eq=False)
class _Pending:
    """One queued edit and, once its batch is over, what its caller gets back."""

    work: Callable[[Session], Any]
    wake: threading.Event = field(default_factory=threading.Event)  # done, or its turn to lead
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    """The edits of one database in this process, committed in batches (see the module)."""

    def __init__(self, sessions: sessionmaker[Session], most_per_batch: int = MOST_PER_BATCH):
        self._sessions = sessions
        self._most = most_per_batch
        self._guard = threading.Lock()
        self._queue: deque[_Pending] = deque()

    @property
    def queued(self) -> int:
        """Edits waiting or being written now."""
        with self._guard:
            return len(self._queue)

    def run(self, work: Callable[[Session], Result]) -> Result:
        """Store one edit: `work(session)` runs in its own savepoint of a shared transaction.
        Returns what it returned, or raises what it raised, once the transaction committed;
        raises the transaction's own error when the batch as a whole could not be stored."""
        pending = _Pending(work)
        with self._guard:
            self._queue.append(pending)
            leads = len(self._queue) == 1
        if not leads:
            pending.wake.wait()
        if not pending.done:
            self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _lead(self) -> None:
        with self._guard:
            batch = list(itertools.islice(self._queue, self._most))
        try:
            self._commit(batch)
        except BaseException as error:  # not stored: every caller of the batch hears why
            logger.warning("a batch of %d edits was not stored: %s", len(batch), error)
            for pending in batch:
                pending.result, pending.error = None, error
        with self._guard:
            for _ in batch:
                self._queue.popleft()
            next_leader = self._queue[0] if self._queue else None
        for pending in batch:
            pending.done = True
            pending.wake.set()
        if next_leader is not None:
            next_leader.wake.set()

    def _commit(self, batch: list[_Pending]) -> None:
        with self._sessions.begin() as session:
            for pending in batch:
                try:
                    with session.begin_nested():
                        pending.result = pending.work(session)
                except Exception as error:  # this edit alone is rolled back; its caller hears
                    pending.error = error


def group_commit(url: str, sessions: sessionmaker[Session]) -> GroupCommit:
    """This process's group committer for the database at `url` (writing with `sessions`)."""
    key = (os.getpid(), url)
    with _lock:
        if key not in _committers:
            _committers[key] = GroupCommit(sessions)
        return _committers[key]
