"""The `au-annotator` command run in the test's own process, its output caught."""

from __future__ import annotations

import contextlib
import io

from annotator.cli import main


def cli(*args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `au-annotator ARGS`, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()
