"""The command line on bad input: one line naming the file and the problem, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers.videos import faststart_copy, truncated_copy

from annotator.cli import main


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


def test_train_command_reports_a_folder_without_usable_label_files_in_one_line(tmp_path, capsys):
    label = tmp_path / "AU_Set/Training_Set/v.txt"
    label.parent.mkdir(parents=True)
    label.write_text("AU1,AU2\n1,0\n")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "v.mp4").write_bytes(b"")  # only its name is read before the error
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "no usable label files (AU_Set/Training_Set/v.txt: line 1: header 'AU1,AU2'" in error


def test_evaluate_command_refuses_a_pickle_in_one_line(tmp_path, capsys):
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    assert main(["evaluate", "--data", str(tmp_path), "--model", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert str(path) in error and "refused" in error
