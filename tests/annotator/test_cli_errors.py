"""The command line on bad input: one line naming the file and the problem, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers.videos import faststart_copy, truncated_copy


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "annotator.cli", *args], capture_output=True, text=True,
        timeout=300,
    )


def bad_inputs(tmp_path, single_face):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    cut = truncated_copy(
        faststart_copy(single_face, tmp_path / "fast.mp4"), tmp_path / "cut.mp4", 0.6
    )
    return {
        "truncated": cut, "text": text, "empty": empty, "folder": tmp_path,
        "missing": tmp_path / "gone.mp4",
    }


@pytest.mark.parametrize("kind", ["truncated", "text", "empty", "folder", "missing"])
def test_process_rejects_bad_input_in_one_line(tmp_path, single_face, kind):
    path = bad_inputs(tmp_path, single_face)[kind]
    result = run_cli("process", str(path))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0]
    assert "Traceback" not in result.stderr
