"""Starting the real app server (`au-annotator app`) for a test, on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from helpers.polling import poll_until

START_LIMIT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(database: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """(base URL, process) of `au-annotator app` serving `database`; stopped on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = subprocess.Popen(
        [sys.executable, "-m", "annotator.cli", "app", "--db", str(database),
         "--port", str(port), *options],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # streamlit runs as a child: stop the whole group at the end
    )
    url = f"http://localhost:{port}"
    try:
        _wait_until_healthy(url, process)
        yield url, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_healthy(url: str, process: subprocess.Popen) -> None:
    def answer() -> bytes | None:
        if process.poll() is not None:
            raise RuntimeError(f"app exited early:\n{process.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                return response.read()
        except OSError:
            return None

    poll_until(answer, lambda found: found == b"ok", START_LIMIT_S, 0.3,
               f"the app answering at {url}")
