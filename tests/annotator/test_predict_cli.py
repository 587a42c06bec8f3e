"""`au-annotator predict`: an Aff-Wild2 prediction file with one line per decoded frame."""

from __future__ import annotations

import pytest

from annotator.cli import main
from model.affwild2_files import read_label_file

ABAW2020_HEADER = "AU1,AU2,AU4,AU6,AU12,AU15,AU20,AU25"


@pytest.mark.slow
def test_demo_video_gets_the_abaw2020_header_and_472_lines(tmp_path, demo_video):
    out = tmp_path / "f.txt"
    assert main(["predict", str(demo_video), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ABAW2020_HEADER
    assert len(lines) == 1 + 472
    labels = read_label_file(out).labels
    assert set(labels.ravel().tolist()) <= {0, 1}  # a face in every frame: no -1
    au25 = labels[:, 7]
    assert au25[330:].mean() > 0.9  # the laughing end shows parted lips


def test_video_without_a_face_gets_95_lines_of_minus_one(tmp_path, no_face):
    out = tmp_path / "f.txt"
    assert main(["predict", str(no_face), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ABAW2020_HEADER
    assert lines[1:] == ["-1,-1,-1,-1,-1,-1,-1,-1"] * 95


def test_abaw12_header_on_request(tmp_path, single_face):
    out = tmp_path / "f.txt"
    assert main(["predict", str(single_face), "--out", str(out), "--au-set", "abaw12"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26"
    assert len(lines) == 1 + 72


def test_missing_video_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "gone.mp4"
    assert main(["predict", str(missing), "--out", str(tmp_path / "f.txt")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(missing) in error
    assert not (tmp_path / "f.txt").exists()
