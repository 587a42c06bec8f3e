"""Waiting for something another thread or process does: one helper for every test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

Value = TypeVar("Value")


def poll_until(read: Callable[[], Value], done: Callable[[Value], object] = bool,
               timeout_s: float = 60.0, interval_s: float = 0.2, what: str = "",
               sleep: Callable[[float], object] = time.sleep,
               describe: Callable[[Value], str] = repr) -> Value:
    """`read()` again every `interval_s` until `done(value)` holds; returns that value. After
    `timeout_s` the test fails naming `what` and the last value read (as `describe` puts it).
    A browser test passes the page's own wait as `sleep`, so the page goes on handling its
    events meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not met after {timeout_s:g} s; "
                                 f"last: {describe(value)}")
        sleep(interval_s)


def rerun_until(app, done: Callable[[object], object], timeout_s: float,
                interval_s: float = 0.3, describe: Callable[[object], str] = repr):
    """A Streamlit AppTest page run again every `interval_s` until `done(app)`; returns it."""
    def wait_and_rerun(seconds: float) -> None:
        time.sleep(seconds)
        app.run()

    return poll_until(lambda: app, done, timeout_s, interval_s, "the page", wait_and_rerun,
                      describe)
