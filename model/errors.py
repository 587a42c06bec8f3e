"""The error every layer raises for bad input: one line that names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input file (not a video, truncated, wrong label file...): one line naming the file
    and the problem. The CLI prints `str(error)` and exits non-zero, without a traceback."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
