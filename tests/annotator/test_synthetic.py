"""The synthetic Aff-Wild2-format dataset: layout, and labelled AUs visible to the landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.devtools.synthetic import SyntheticConfig, clip_labels, make_synthetic_dataset
from annotator.processing.extraction import features_for_video
from annotator.processing.video import count_frames, open_video
from model.affwild2_files import read_label_file
from model.baseline import geometry_measures

SINGLE_FACE = Path(__file__).parents[1] / "data" / "single_face.mp4"
CONFIG = SyntheticConfig(train_clips=1, validation_clips=1, frames_per_clip=40,
                         episode_chance=0.7, seed=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    labels = make_synthetic_dataset(root, [SINGLE_FACE], CONFIG)
    clips = []
    for label_path in labels:
        video = root / "videos" / f"{label_path.stem}.mp4"
        measures = geometry_measures(features_for_video(video).aligned_landmarks)
        clips.append((label_path, video, read_label_file(label_path), measures))
    return root, clips


def test_dataset_has_the_affwild2_layout(dataset):
    root, clips = dataset
    splits = [label_path.parent.relative_to(root) for label_path, *_ in clips]
    assert splits == [Path("AU_Set/Training_Set"), Path("AU_Set/Validation_Set")]
    for _, video, labels, _ in clips:
        assert labels.au_set == "abaw2020"
        assert count_frames(video) == len(labels.labels) == CONFIG.frames_per_clip
        info = open_video(video)
        assert (info.width, info.height) == (CONFIG.size, CONFIG.size)


def _labelled_difference(clips, au: str, measure: str) -> list[float]:
    """Mean of a landmark measure on frames labelled with `au` minus on frames without it."""
    differences = []
    for _, _, labels, measures in clips:
        present = labels.labels[:, labels.aus.index(au)] == 1
        if present.any() and (~present).any():
            values = measures[measure]
            differences.append(float(values[present].mean() - values[~present].mean()))
    return differences


@pytest.mark.parametrize(
    ("au", "measure", "direction"),
    [
        ("AU25", "lip_gap", 1),  # lips part
        ("AU1", "inner_brow_height", 1),  # inner brows rise
        ("AU2", "outer_brow_height", 1),  # outer brows rise
        ("AU4", "inner_brow_height", -1),  # brows lower
        ("AU12", "corner_height", 1),  # lip corners rise
        ("AU15", "corner_height", -1),  # lip corners fall
        ("AU20", "mouth_width", 1),  # mouth stretches
    ],
)
def test_labelled_au_is_visible_in_the_landmarks(dataset, au, measure, direction):
    _, clips = dataset
    differences = _labelled_difference(clips, au, measure)
    assert differences, f"the seed gave no clip with {au} both on and off"
    # 0.025 IOD is about 1 pixel of the aligned crop: well above dlib's jitter on average
    assert min(direction * d for d in differences) > 0.025


def test_labels_mark_frames_at_half_intensity_or_more():
    tracks = {"AU12": np.array([0.0, 0.3, 0.5, 0.9, 0.49], dtype=np.float32)}
    labels = clip_labels(tracks, "abaw12")
    assert labels[:, 6].tolist() == [0, 0, 1, 1, 0]  # AU12 is the 7th abaw12 AU
    assert (labels[:, 4] == -1).all()  # AU7 is never synthesised: not annotated
