"""A video with two people: every face tracked into subjects, each subject coded, pre-filled,
exported and imported on its own (`NAME_left.txt` / `NAME_right.txt`), the CLI naming them.

The clip (helpers.videos.two_person_video) puts the single-face clip on the left (neutral,
then a broad smile from frame 21) beside the demo clip's crying start on the right (no smile),
and the right person leaves the picture for 1.3 s and comes back.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from helpers.videos import LEFT_SMILE_FROM, RIGHT_AWAY, TWO_PERSON_FRAMES

import db
from annotator.cli import main
from annotator.labelfiles.label_io import ExportOptions, export_video, import_label_folder
from annotator.processing.extraction import subjects_for_video
from annotator.processing.prediction import process_video
from annotator.services import Services
from model.affwild2_files import read_label_file
from model.au_sets import au_names
from model.errors import InputError

AU12 = au_names("abaw2020").index("AU12")


@pytest.fixture(scope="module")
def two_person(two_person_clip):
    return two_person_clip


@pytest.fixture
def processed(two_person, tmp_path):
    """A fresh database holding the processed clip: (url, video id)."""
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    return url, process_video(two_person, Services.open(url)).video_id


def test_two_subjects_are_found_numbered_by_frames_seen(two_person):
    subjects = subjects_for_video(two_person)
    assert subjects.count == 2 and len(subjects) == TWO_PERSON_FRAMES
    assert subjects.frames_seen(1) >= 94  # the left person is always there
    assert 40 <= subjects.frames_seen(2) <= 96 - len(RIGHT_AWAY)
    assert subjects.centre_x(1) < 320 < subjects.centre_x(2)


def test_the_person_who_leaves_and_comes_back_keeps_their_number(two_person):
    right = subjects_for_video(two_person).subject(2)
    seen = np.flatnonzero(right.face)
    assert seen.min() < RIGHT_AWAY.start and seen.max() > RIGHT_AWAY.stop  # before and after
    assert not right.face[RIGHT_AWAY].any()
    assert (right.box[right.face][:, 0] > 320).all()  # never the left person's face


def test_each_subject_is_prefilled_from_its_own_face(processed):
    url, video_id = processed
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        left = db.effective_labels(session, video, None, 1).prefill[:, AU12]
        right = db.effective_labels(session, video, None, 2).prefill[:, AU12]
    assert (left[:15] == 0).all() and (left[LEFT_SMILE_FROM + 3:] == 1).all()  # a smile onset
    assert set(right.tolist()) == {0, -1}  # no smile on the right, -1 while away
    assert (right[RIGHT_AWAY] == -1).all()


def test_a_correction_belongs_to_the_subject_it_was_made_on(processed):
    url, video_id = processed
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        db.correct(session, video, "alice", "AU12", 0, 9, 1, subject=2)
        assert db.effective_labels(session, video, "alice", 2).labels[:10, AU12].tolist() == \
            [1] * 10
        assert not db.effective_labels(session, video, "alice", 1).reviewed.any()


def test_export_writes_left_and_right_files_and_import_gives_them_back(processed, tmp_path):
    url, video_id = processed
    sessions = db.open_database(url)
    with sessions.begin() as session:
        video = db.get_video(session, video_id)
        db.correct(session, video, "alice", "AU4", 40, 60, 1, subject=1)
        written = export_video(session, video, tmp_path / "alice", ExportOptions(coder="alice"))
    assert [path.name for path in written] == ["interview_left.txt", "interview_right.txt"]
    for path in written:
        assert len(path.read_text().splitlines()) == 1 + TWO_PERSON_FRAMES
    left = read_label_file(written[0]).labels
    assert (left[40:61, au_names("abaw2020").index("AU4")] == 1).all()  # alice's, subject 1
    with sessions.begin() as session:
        imported = import_label_folder(session, tmp_path / "alice", "bob")
        assert {item.path.name: item.subject for item in imported} == {
            "interview_left.txt": 1, "interview_right.txt": 2}
        again = export_video(session, db.get_video(session, video_id), tmp_path / "bob",
                             ExportOptions(coder="bob"))
    assert [path.read_bytes() for path in again] == [path.read_bytes() for path in written]


def test_exporting_a_subject_the_video_lacks_names_the_ones_it_has(processed, tmp_path):
    url, video_id = processed
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        with pytest.raises(InputError, match="has no subject 3 .*subjects 1, 2"):
            export_video(session, video, tmp_path, ExportOptions(subject=3))


def test_the_openface_csv_has_a_row_per_frame_and_face_with_its_face_id(processed, tmp_path):
    url, video_id = processed
    with db.open_database(url).begin() as session:
        [path] = export_video(session, db.get_video(session, video_id), tmp_path,
                              ExportOptions("openface-csv"))
    table = pd.read_csv(path, skipinitialspace=True)
    assert path.name == "interview.csv" and len(table) == 2 * TWO_PERSON_FRAMES
    assert table["frame"].tolist() == [f for f in range(1, TWO_PERSON_FRAMES + 1) for _ in "ab"]
    assert table["face_id"].tolist() == [0, 1] * TWO_PERSON_FRAMES
    right = table[table["face_id"] == 1].set_index("frame")
    assert (right.loc[[f + 1 for f in RIGHT_AWAY], "success"] == 0).all()
    assert (right.loc[right["success"] == 1, "x_30"] > 320).all()  # its own nose tip


def test_process_lists_the_subjects_with_their_share(two_person, tmp_path, capsys):
    assert main(["process", str(two_person), "--db", str(tmp_path / "a.sqlite3")]) == 0
    out = capsys.readouterr().out
    assert "subject 1: 96 frames (100.0 % of the video), pre-filled" in out
    assert "subject 2: " in out and "% of the video), pre-filled" in out


def test_predict_writes_a_file_per_person(two_person, tmp_path, capsys):
    assert main(["predict", str(two_person), "--out", str(tmp_path / "labels.txt")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels_left.txt", "labels_right.txt"]
    left = read_label_file(tmp_path / "labels_left.txt").labels[:, AU12]
    right = read_label_file(tmp_path / "labels_right.txt").labels[:, AU12]
    assert left[-1] == 1 and (right != 1).all()
    assert len(left) == len(right) == TWO_PERSON_FRAMES


@pytest.mark.parametrize("subject, name", [("1", "interview.txt"), ("2", "interview_right.txt")])
def test_export_command_picks_one_subject(processed, tmp_path, subject, name):
    # subject 1 alone is NAME.txt, as for a one-person video; another keeps its side's name
    url, _ = processed
    out = tmp_path / "out"
    assert main(["export", "--format", "affwild2", "--out", str(out), "--subject", subject,
                 "--db", url]) == 0
    assert [p.name for p in out.iterdir()] == [name]


@pytest.mark.slow
def test_bench_times_the_pipeline_with_both_subjects(two_person, capsys):
    assert main(["bench", str(two_person)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert f"frames={TWO_PERSON_FRAMES} subjects=2 " in "\n".join(lines)
    assert re.fullmatch(r"end_to_end_fps=[\d.]+ reference_fps=[\d.]+ ratio=[\d.]+", lines[-1])
