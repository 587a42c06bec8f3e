"""Reading Aff-Wild2 folders: layouts, label/video matching and bad label files."""

import logging
from pathlib import Path

import numpy as np
import pytest

from model.affwild2 import infer_au_set, labels_for_frames, read_split
from model.formats import InputError, au_names, write_label_file

AUS = au_names("abaw2020")


def _label(root: Path, name: str, rows: int = 4, folder: str = "AU_Set/Training_Set") -> Path:
    labels = np.tile(np.array([1, 0, 0, 1, 0, 0, -1, 1]), (rows, 1))
    return write_label_file(root / folder / f"{name}.txt", AUS, labels)


def _video(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"")  # the reader only matches names; decoding happens later
    return path


def test_label_files_are_matched_to_videos_in_the_videos_folder(tmp_path):
    _label(tmp_path, "1-30-1280x720")
    _label(tmp_path, "video5", folder="AU_Set/Validation_Set")
    video = _video(tmp_path / "videos", "1-30-1280x720.mp4")
    _video(tmp_path / "videos", "video5.avi")
    split = read_split(tmp_path, "train", "abaw2020")
    assert [(v.name, v.video_path) for v in split.videos] == [("1-30-1280x720", video)]
    assert split.videos[0].labels.shape == (4, 8)
    assert read_split(tmp_path, "validation", "abaw2020").videos[0].video_path.suffix == ".avi"


def test_videos_in_batch_subfolders_or_beside_the_labels_are_found(tmp_path):
    _label(tmp_path, "a")
    _label(tmp_path, "b")
    in_batch = _video(tmp_path / "videos" / "batch1", "a.mp4")
    beside = _video(tmp_path, "b.mp4")
    split = read_split(tmp_path, "train", "abaw2020")
    assert [v.video_path for v in split.videos] == [in_batch, beside]


def test_later_edition_layout_is_the_twelve_au_set(tmp_path):
    labels = np.zeros((3, 12), dtype=np.int8)
    write_label_file(tmp_path / "AU_Detection_Challenge/Train_Set/x.txt", au_names("abaw12"),
                     labels)
    _video(tmp_path / "videos", "x.mp4")
    assert infer_au_set(tmp_path) == "abaw12"
    assert read_split(tmp_path, "train", "abaw12").videos[0].labels.shape == (3, 12)


def test_label_folders_under_annotations_are_found(tmp_path):
    _label(tmp_path, "a", folder="annotations/AU_Set/Training_Set")
    _video(tmp_path / "videos", "a.mp4")
    assert infer_au_set(tmp_path) == "abaw2020"
    assert len(read_split(tmp_path, "train", "abaw2020").videos) == 1


def test_two_person_label_files_are_matched_then_skipped_and_reported(tmp_path, caplog):
    _label(tmp_path, "10-60-1280x720_left")
    _label(tmp_path, "10-60-1280x720_right")
    _label(tmp_path, "solo")
    _video(tmp_path / "videos", "10-60-1280x720.mp4")
    _video(tmp_path / "videos", "solo.mp4")
    with caplog.at_level(logging.WARNING):
        split = read_split(tmp_path, "train", "abaw2020")
    assert [v.name for v in split.videos] == ["solo"]
    assert set(split.skipped) == {"10-60-1280x720_left.txt", "10-60-1280x720_right.txt"}
    assert "two-person" in caplog.text


def test_label_file_without_a_video_names_the_file(tmp_path):
    label = _label(tmp_path, "lost")
    with pytest.raises(InputError, match="no video lost") as error:
        read_split(tmp_path, "train", "abaw2020")
    assert error.value.path == label


def test_folder_without_label_folders_is_refused(tmp_path):
    with pytest.raises(InputError, match="no Aff-Wild2 label folders"):
        infer_au_set(tmp_path)
    with pytest.raises(InputError, match="no AU_Set/Validation_Set label folder"):
        read_split(tmp_path, "validation", "abaw2020")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AU1,AU2,AU4\n1,0,0\n", "line 1: header"),
        (",".join(AUS) + "\n1,0,0,1,0,0,0,1\n1,0,0,1\n", "line 3: 4 values, expected 8"),
        (",".join(AUS) + "\n1,0,0,1,0,0,0,2\n", "line 2: values must be -1, 0 or 1"),
        (",".join(AUS) + "\n1,0,0,1,0,0,0,x\n", "line 2: .* is not integers"),
    ],
)
def test_bad_label_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "AU_Set/Training_Set/bad.txt"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    _video(tmp_path / "videos", "bad.mp4")
    with pytest.raises(InputError, match=message) as error:
        read_split(tmp_path, "train", "abaw2020")
    assert str(error.value).startswith(str(path))


def test_label_file_of_the_other_au_set_is_refused(tmp_path):
    write_label_file(tmp_path / "AU_Set/Training_Set/v.txt", au_names("abaw12"),
                     np.zeros((2, 12), np.int8))
    _video(tmp_path / "videos", "v.mp4")
    with pytest.raises(InputError, match="holds AU set abaw12, expected abaw2020"):
        read_split(tmp_path, "train", "abaw2020")


def test_fewer_label_lines_than_frames_leaves_the_rest_unannotated(tmp_path, caplog):
    _label(tmp_path, "short", rows=4)
    _video(tmp_path / "videos", "short.mp4")
    video = read_split(tmp_path, "train", "abaw2020").videos[0]
    with caplog.at_level(logging.WARNING):
        aligned = labels_for_frames(video, frame_count=6)
    np.testing.assert_array_equal(aligned[:4], video.labels)
    assert (aligned[4:] == -1).all()
    assert "4 label lines for 6 decoded frames" in caplog.text


def test_more_label_lines_than_frames_is_an_error_naming_file_and_counts(tmp_path):
    label = _label(tmp_path, "long", rows=5)
    _video(tmp_path / "videos", "long.mp4")
    video = read_split(tmp_path, "train", "abaw2020").videos[0]
    with pytest.raises(InputError, match="5 label lines but video long.mp4 decodes only 3"):
        labels_for_frames(video, frame_count=3)
    with pytest.raises(InputError) as error:
        labels_for_frames(video, frame_count=3)
    assert error.value.path == label


def test_train_command_reports_a_bad_label_file_in_one_line(tmp_path, capsys):
    from annotator.cli import main

    label = tmp_path / "AU_Set/Training_Set/v.txt"
    label.parent.mkdir(parents=True)
    label.write_text("AU1,AU2\n1,0\n")
    _video(tmp_path / "videos", "v.mp4")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"{label}: line 1: header 'AU1,AU2' is not an AU header" in error


def test_train_command_refuses_more_label_lines_than_the_video_decodes(
    tmp_path, capsys, single_face
):
    from annotator.cli import main

    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "clip.mp4").write_bytes(single_face.read_bytes())  # 72 frames
    label = _label(tmp_path, "clip", rows=80)
    _label(tmp_path, "clip", rows=72, folder="AU_Set/Validation_Set")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{label}: 80 label lines but video clip.mp4 decodes only 72 frames" in error
    assert not (tmp_path / "out" / "model.safetensors").exists()
