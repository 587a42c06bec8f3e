"""Eight coders correcting one video at once through the app's service layer, for a few seconds
(benchmarks/load.py): every acknowledged edit is stored, in order, and each coder's effective
labels equal the replay of what that coder did over the pre-fill."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # load tests: eight coders at once

LOAD = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"


def run_load(*options: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """The benchmark's run and its figures line (`coders=8 edits=… lost=0 …`)."""
    done = subprocess.run(
        [sys.executable, str(LOAD), "--seconds", "3", "--frames", "3000", *options],
        capture_output=True, text=True, timeout=300,
    )
    line = next((text for text in done.stdout.splitlines() if text.startswith("coders=")), "")
    return done, dict(pair.split("=", 1) for pair in line.split())


def assert_nothing_lost(done: subprocess.CompletedProcess, figures: dict[str, str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert figures["coders"] == "8"
    assert int(figures["edits"]) >= 8  # every coder got edits in, not one alone
    assert (figures["lost"], figures["mismatched"], figures["errors"]) == ("0", "0", "0")
    assert 0 < float(figures["p50_ms"]) <= float(figures["p95_ms"])


def test_eight_coders_at_once_on_sqlite_keep_every_edit():
    assert_nothing_lost(*run_load())


def test_eight_coders_at_once_on_postgresql_keep_every_edit(postgresql_database):
    assert_nothing_lost(*run_load("--db", postgresql_database))
