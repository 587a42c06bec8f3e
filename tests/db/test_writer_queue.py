"""Writers of one process take turns in the order they came, and a writer kept waiting too
long gets SQLite's own "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from db.engine import WriterQueue


def test_waiting_writers_go_in_arrival_order():
    queue, order = WriterQueue(5.0), []
    queue.acquire()
    threads = []
    for number in range(6):
        thread = threading.Thread(target=lambda n=number: (queue.acquire(), order.append(n),
                                                           queue.release()))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # each one queued before the next arrives
    queue.release()
    for thread in threads:
        thread.join(5)
    assert order == list(range(6))


def test_a_writer_waiting_past_the_timeout_gives_up_and_the_queue_goes_on():
    queue = WriterQueue(0.05)
    queue.acquire()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        queue.acquire()
    queue.release()
    queue.acquire()  # the one who gave up left no turn behind
    queue.release()
