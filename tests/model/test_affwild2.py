"""Reading Aff-Wild2 folders as released: every layout, videos wherever the releases put them,
label files that disagree with their video, and files that cannot be used (skipped, named)."""

import logging
import re
from pathlib import Path

import numpy as np
import pytest

from model.affwild2 import (
    UsableVideos,
    align_labels,
    infer_au_set,
    read_split,
    split_off_tuning,
)
from model.affwild2_files import write_label_file
from model.au_sets import au_names
from model.errors import InputError
from model.features import VideoFeatures

AUS = au_names("abaw2020")
ROW = np.array([1, 0, 0, 1, 0, 0, -1, 1])


def _label(root: Path, name: str, rows: int = 4, folder: str = "AU_Set/Training_Set") -> Path:
    return write_label_file(root / folder / f"{name}.txt", AUS, np.tile(ROW, (rows, 1)))


def _video(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"")  # the reader only matches names; decoding happens later
    return path


def _features(frames: int) -> VideoFeatures:
    return VideoFeatures(np.zeros((frames, 2, 4, 4), np.uint8), np.zeros((frames, 136), np.float32),
                         np.ones(frames, bool), np.ones(frames, bool),
                         np.zeros((frames, 68, 2), np.float32))


def test_label_files_are_matched_to_videos_in_the_videos_folder(tmp_path):
    _label(tmp_path, "1-30-1280x720")
    _label(tmp_path, "video5", folder="AU_Set/Validation_Set")
    video = _video(tmp_path / "videos", "1-30-1280x720.mp4")
    _video(tmp_path / "videos", "video5.avi")
    split = read_split(tmp_path, "train", "abaw2020")
    assert [(v.name, v.video_path) for v in split.videos] == [("1-30-1280x720", video)]
    assert split.videos[0].labels.shape == (4, 8)
    assert read_split(tmp_path, "validation", "abaw2020").videos[0].video_path.suffix == ".avi"


def test_videos_in_batch_folders_beside_the_labels_or_in_the_root_are_found(tmp_path):
    places = [("videos/batch1", "a.mp4"), ("batch1", "b.avi"), ("batch2", "c.mkv"),
              ("AU_Set/Training_Set", "d.mp4"), (".", "e.mp4")]
    found = []
    for folder, name in places:
        _label(tmp_path, Path(name).stem)
        found.append(_video(tmp_path / folder, name))
    split = read_split(tmp_path, "train", "abaw2020")
    assert [v.video_path for v in split.videos] == found


@pytest.mark.parametrize(
    ("train_folder", "au_set"),
    [("AU_Set/Training_Set", "abaw2020"),  # ABAW 2020
     ("AU_Set/Train_Set", "abaw12"),  # ABAW 2021: the old folder, 12 AUs
     ("AU_Detection_Challenge/Train_Set", "abaw12")],  # later editions
)
def test_every_released_layout_is_read_with_its_au_set(tmp_path, train_folder, au_set):
    aus = au_names(au_set)
    write_label_file(tmp_path / train_folder / "x.txt", aus, np.zeros((3, len(aus)), np.int8))
    validation = Path(train_folder).parent / "Validation_Set" / "y.txt"
    write_label_file(tmp_path / validation, aus, np.zeros((2, len(aus)), np.int8))
    _video(tmp_path / "videos", "x.mp4")
    _video(tmp_path / "videos", "y.mp4")
    assert infer_au_set(tmp_path) == au_set
    assert read_split(tmp_path, "train", au_set).videos[0].labels.shape == (3, len(aus))
    assert read_split(tmp_path, "validation", au_set).videos[0].name == "y"


def test_label_folders_under_annotations_are_found(tmp_path):
    _label(tmp_path, "a", folder="annotations/AU_Set/Training_Set")
    _video(tmp_path / "videos", "a.mp4")
    assert infer_au_set(tmp_path) == "abaw2020"
    assert len(read_split(tmp_path, "train", "abaw2020").videos) == 1


def test_two_person_label_files_are_two_people_of_their_video(tmp_path):
    _label(tmp_path, "10-60-1280x720_left")
    _label(tmp_path, "10-60-1280x720_right")
    _label(tmp_path, "solo")
    shared = _video(tmp_path / "videos", "10-60-1280x720.mp4")
    solo = _video(tmp_path / "videos", "solo.mp4")
    split = read_split(tmp_path, "train", "abaw2020")
    assert [(v.name, v.person, v.video_path) for v in split.videos] == [
        ("10-60-1280x720_left", "left", shared), ("10-60-1280x720_right", "right", shared),
        ("solo", None, solo)]
    assert not split.skipped


def test_label_file_without_a_video_is_skipped_and_named(tmp_path, caplog):
    _label(tmp_path, "lost")
    _label(tmp_path, "here")
    _video(tmp_path / "videos", "here.mp4")
    with caplog.at_level(logging.WARNING):
        split = read_split(tmp_path, "train", "abaw2020")
    assert [v.name for v in split.videos] == ["here"]
    assert split.skipped["AU_Set/Training_Set/lost.txt"].startswith("no video lost.*")
    assert "lost.txt: skipped: no video lost" in caplog.text


def test_a_split_with_no_usable_file_is_refused_with_the_reasons(tmp_path):
    _label(tmp_path, "lost")
    with pytest.raises(InputError, match=r"no usable label files \(AU_Set/Training_Set/lost.txt: "
                                         r"no video lost") as error:
        read_split(tmp_path, "train", "abaw2020")
    assert error.value.path == tmp_path / "AU_Set/Training_Set"


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
        (",".join(au_names("abaw12")) + "\n" + ",".join(["0"] * 12) + "\n",
         "holds AU set abaw12, expected abaw2020"),
    ],
)
def test_a_bad_label_file_is_skipped_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "AU_Set/Training_Set/bad.txt"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    _video(tmp_path / "videos", "bad.mp4")
    _label(tmp_path, "good")
    _video(tmp_path / "videos", "good.mp4")
    split = read_split(tmp_path, "train", "abaw2020")
    assert [v.name for v in split.videos] == ["good"]
    assert split.skipped.keys() == {"AU_Set/Training_Set/bad.txt"}
    assert re.search(message, split.skipped["AU_Set/Training_Set/bad.txt"])


def test_blank_lines_are_read_with_a_warning_saying_what_was_done(tmp_path, caplog):
    path = tmp_path / "AU_Set/Training_Set/gaps.txt"
    path.parent.mkdir(parents=True)
    row = ",".join(map(str, ROW))
    path.write_text(f"{','.join(AUS)}\n{row}\n\n{row}\n\n\n")
    _video(tmp_path / "videos", "gaps.mp4")
    with caplog.at_level(logging.WARNING):
        video = read_split(tmp_path, "train", "abaw2020").videos[0]
    np.testing.assert_array_equal(video.labels, [ROW, [-1] * 8, ROW])  # frame 2 not annotated
    assert ("gaps.txt: 1 blank line(s) from line 3 read as not annotated; "
            "2 trailing blank line(s) ignored") in caplog.text


def test_fewer_label_lines_than_frames_leaves_the_rest_unannotated(tmp_path):
    _label(tmp_path, "short", rows=4)
    _video(tmp_path / "videos", "short.mp4")
    video = read_split(tmp_path, "train", "abaw2020").videos[0]
    aligned, done = align_labels(video, frame_count=6)
    np.testing.assert_array_equal(aligned[:4], video.labels)
    assert (aligned[4:] == -1).all()
    assert "4 label lines for 6 decoded frames of short.mp4; the last 2 frames" in done


def test_a_few_label_lines_more_than_frames_are_dropped(tmp_path):
    _label(tmp_path, "long", rows=5)
    _video(tmp_path / "videos", "long.mp4")
    video = read_split(tmp_path, "train", "abaw2020").videos[0]
    aligned, done = align_labels(video, frame_count=4)
    np.testing.assert_array_equal(aligned, video.labels[:4])
    assert done == "5 label lines for 4 decoded frames of long.mp4; the last 1 line(s) dropped"


def test_many_label_lines_more_than_frames_belong_to_another_video(tmp_path):
    label = _label(tmp_path, "other", rows=20)
    _video(tmp_path / "videos", "other.mp4")
    video = read_split(tmp_path, "train", "abaw2020").videos[0]
    with pytest.raises(InputError, match="20 label lines but video other.mp4 decodes only 3") as e:
        align_labels(video, frame_count=3)
    assert e.value.path == label


def test_usable_videos_skip_what_cannot_load_or_align_and_read_each_video_once(tmp_path, caplog):
    for name, rows in (("fine", 4), ("broken", 4), ("other", 20)):
        _label(tmp_path, name, rows=rows)
        _video(tmp_path / "videos", f"{name}.mp4")
    split = read_split(tmp_path, "train", "abaw2020")
    reads = []

    def load(path: Path, person: str | None) -> VideoFeatures:
        reads.append(path.stem)
        if path.stem == "broken":
            raise InputError(path, "not a video")
        return _features(4)

    usable = UsableVideos(split, split.videos, load)
    with caplog.at_level(logging.WARNING):
        loaded = [(video.name, usable.load(video.video_path, video.person)) for video in usable]
    assert [name for name, _ in loaded] == ["fine"]
    assert reads == ["broken", "fine", "other"]  # "fine" handed over, not read again
    assert split.skipped["AU_Set/Training_Set/broken.txt"].endswith("broken.mp4: not a video")
    assert "20 label lines" in split.skipped["AU_Set/Training_Set/other.txt"]
    assert "other.txt: skipped: 20 label lines" in caplog.text


def test_tuning_videos_are_whole_videos_held_out_of_training(tmp_path):
    for name in "abcdefgh":
        _label(tmp_path, name)
        _video(tmp_path / "videos", f"{name}.mp4")
    split = read_split(tmp_path, "train", "abaw2020")
    training, tuning = split_off_tuning(split, 0.25, seed=0)
    assert len(tuning) == 2 and len(training) == 6
    assert {v.name for v in training}.isdisjoint(v.name for v in tuning)
    assert split_off_tuning(split, 0.25, seed=0) == (training, tuning)  # repeatable by seed
    assert split_off_tuning(split, 0.0, seed=0) == (split.videos, [])
    assert len(split_off_tuning(split, 0.99, seed=0)[0]) == 1  # one is always left to train


def test_both_people_of_a_video_go_to_training_or_both_to_tuning(tmp_path):
    for name in ("a_left", "a_right", "b", "c_left", "c_right", "d"):
        _label(tmp_path, name)
    for name in "abcd":
        _video(tmp_path / "videos", f"{name}.mp4")
    split = read_split(tmp_path, "train", "abaw2020")
    for seed in range(6):
        training, tuning = split_off_tuning(split, 0.5, seed=seed)
        assert {v.video_path for v in training}.isdisjoint(v.video_path for v in tuning)
        assert len({v.video_path for v in tuning}) == 2


def test_tuning_split_needs_two_training_videos(tmp_path):
    _label(tmp_path, "only")
    _video(tmp_path / "videos", "only.mp4")
    with pytest.raises(InputError, match="--tune-split 0.2 needs at least 2 training videos"):
        split_off_tuning(read_split(tmp_path, "train", "abaw2020"), 0.2, seed=0)

