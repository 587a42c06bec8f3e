"""Errors a coder can act on: each names the file and the problem in one line."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input file (not a video, truncated, wrong label file...).

    The CLI prints `str(error)` as one line and exits non-zero, without a traceback.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
