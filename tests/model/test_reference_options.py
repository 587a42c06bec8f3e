"""The seed's reference-code options, each a setting: positives held after smoothing, the
aspect-table fusion, the landmark window and subset; and the settings file that holds them."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointInfo
from model.config import TrainingSetup, apply_settings, parse_assignment, read_setup, setup_toml
from model.errors import InputError
from model.features import FeatureConfig, VideoFeatures, landmark_motion, motion_for
from model.network import AUNetwork, NetworkConfig
from model.smoothing import (
    PostProcessing,
    hold_positives,
    prefill_labels,
    score_probabilities,
    tune_postprocessing,
)

TINY = NetworkConfig(conv_channels=(8, 8, 16, 16), hidden_size=32, embedding_size=16)
NAN = np.nan


def test_a_positive_is_held_for_the_next_frames_and_no_face_stays_minus_one():
    # one AU; present (≥ 0.5) only at frame 2; frame 4 has no face
    probabilities = np.array([[0.1], [0.9], [0.2], [NAN], [0.3], [0.2], [0.1]], np.float32)
    labels = prefill_labels(probabilities, 0.5, window=1, hold_frames=3)
    assert labels[:, 0].tolist() == [0, 1, 1, -1, 1, 0, 0]  # held over frames 3-5, 4 no face
    assert prefill_labels(probabilities, 0.5, 1)[:, 0].tolist() == [0, 1, 0, -1, 0, 0, 0]


def test_holding_the_values_equals_holding_the_thresholded_labels():
    rng = np.random.default_rng(0)
    probabilities = rng.random((50, 3)).astype(np.float32)
    held = hold_positives(probabilities, 2)
    for threshold in (0.3, 0.6, 0.9):
        labels = (probabilities >= threshold).astype(int)
        expected = labels.copy()
        for shift in (1, 2):
            expected[shift:] |= labels[:-shift]
        np.testing.assert_array_equal((held >= threshold).astype(int), expected)


def test_tuning_with_a_hold_stores_it_and_scores_as_prediction_does():
    labels = np.repeat([0, 1, 1, 1, 1, 0], 5)[:, None]  # (30, 1)
    probabilities = np.where(np.arange(30)[:, None] % 5 == 0, 0.9, 0.1).astype(np.float32)
    probabilities[labels[:, 0] == 0] = 0.1
    post, scores = tune_postprocessing([probabilities], [labels], "abaw2020", (1,), (0.5,), 4)
    assert post == PostProcessing(post.thresholds, 1, 4)
    assert scores.accuracy == pytest.approx(1.0)  # each 0.9 held over its block of 5 frames
    assert score_probabilities([probabilities], [labels], post).accuracy == pytest.approx(1.0)


def test_aspect_fusion_reads_the_table_with_two_grus_and_attention():
    config = NetworkConfig(**{**TINY.to_dict(), "fusion": "aspect", "aspects": 64})
    network = AUNetwork(config)
    assert network.fusion.aspects.shape == (64, 16)  # the table: one embedding per aspect
    logits = network(torch.zeros(3, 2, 112, 112), torch.zeros(3, 136))
    assert logits.shape == (3, 8, 2)
    with pytest.raises(ValueError, match="hidden size 30 is not divisible by 4 attention heads"):
        NetworkConfig(hidden_size=30, fusion="aspect")


def _walking_face(frames: int = 9) -> tuple[np.ndarray, np.ndarray]:
    aligned = np.zeros((frames, 68, 2), np.float32)
    aligned[:, :, 0] = np.arange(frames)[:, None] * np.arange(68)[None, :]  # point p moves p/frame
    face = np.ones(frames, bool)
    face[6] = False
    aligned[6] = NAN
    return aligned, face


def test_landmark_window_and_subset_shape_the_motion():
    aligned, face = _walking_face()
    config = FeatureConfig(crop_size=112, motion_offset=2, landmark_points="no-jaw")
    motion, has_motion = landmark_motion(aligned, face, config)
    assert motion.shape == (9, 102)  # 51 points without the jaw line, x and y
    assert has_motion.tolist() == [False, False, True, True, False, True, False, False, False]
    # point 17 (the first kept) moves 17 px a frame: L(t+2) − L(t−2) = 68 px
    assert motion[2, 0] == pytest.approx(4 * 17 / 112)


def test_motion_is_recomputed_for_a_checkpoint_s_own_window_and_points():
    aligned, face = _walking_face()
    default = FeatureConfig()
    images = np.zeros((9, 2, 112, 112), np.uint8)
    features = VideoFeatures(images, *landmark_motion(aligned, face, default)[:1], face,
                             np.zeros(9, bool), aligned)
    reference = FeatureConfig(motion_offset=2, landmark_points="no-jaw")
    np.testing.assert_array_equal(motion_for(features, reference),
                                  landmark_motion(aligned, face, reference)[0])


def test_feature_cache_key_changes_with_window_points_and_faces_only():
    default = FeatureConfig()
    assert default.key() == "773f203636a4"  # the key before these settings existed: caches stay
    keys = {FeatureConfig(motion_offset=2).key(), FeatureConfig(landmark_points="no-jaw").key(),
            FeatureConfig(faces="cropped-aligned").key()}
    assert len(keys) == 3 and default.key() not in keys
    assert default.same_images(FeatureConfig(motion_offset=2, landmark_points="no-jaw"))
    assert not default.same_images(FeatureConfig(faces="cropped-aligned"))


def test_checkpoint_info_keeps_features_and_hold():
    features = FeatureConfig(motion_offset=2, landmark_points="no-jaw")
    info = CheckpointInfo(TINY, np.full(8, 0.5, np.float32), 5, "dlib", features=features,
                          hold_frames=3, feature_key=features.key())
    back = CheckpointInfo.from_json(info.to_json())
    assert back.features == features and back.hold_frames == 3
    older = json.loads(info.to_json())
    del older["features"], older["hold_frames"]  # a checkpoint written before these existed
    old = CheckpointInfo.from_json(json.dumps(older))
    assert old.features == FeatureConfig() and old.hold_frames == 0


def test_settings_file_round_trips_and_names_what_was_left_at_default(tmp_path):
    setup = apply_settings(TrainingSetup(), {
        "au_set": "abaw12", "network.fusion": "aspect", "network.conv_channels": [8, 16, 16, 32],
        "features.landmark_points": "no-jaw", "training.threshold_grid": [0.25, 0.5],
        "training.learning_rate": 3e-4, "training.tune_split": 0.2}, "test")
    path = tmp_path / "setup.toml"
    path.write_text(setup_toml(setup))
    assert read_setup(path) == setup
    assert "motion_scale" not in path.read_text()  # derived by training, never written
    assert read_setup(path).network.conv_channels == (8, 16, 16, 32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("network.fusion=aspect", ("network.fusion", "aspect")),
     ("training.epochs=3", ("training.epochs", 3)),
     ("training.tune_split = 0.2", ("training.tune_split", 0.2)),
     ("network.conv_channels=[8, 8, 16, 16]", ("network.conv_channels", [8, 8, 16, 16]))],
)
def test_command_line_settings_read_as_toml_values_or_plain_words(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"network.hidden": 3}, "unknown setting 'network.hidden'"),
     ({"training.epochs": "many"}, "training.epochs: expected an integer, not 'many'"),
     ({"training.tune_split": 1.5}, "tune split must be at least 0 and below 1"),
     ({"features.landmark_points": "jaw"}, "unknown landmark points 'jaw'"),
     ({"network.motion_scale": 2.0}, "unknown setting 'network.motion_scale'")],
)
def test_a_bad_setting_names_its_source_and_the_setting(settings, message):
    with pytest.raises(InputError, match=message) as error:
        apply_settings(TrainingSetup(), settings, "--set")
    assert str(error.value).startswith("--set: ")


def test_an_unreadable_settings_file_is_named(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[network\nhidden_size = 3")
    with pytest.raises(InputError, match="cannot read settings file") as error:
        read_setup(path)
    assert error.value.path == path


def test_the_shipped_reference_settings_name_the_reference_code_options():
    setup = read_setup(Path(__file__).resolve().parents[2] / "docs" / "seed_reference.toml")
    assert (setup.network.fusion, setup.network.aspects, setup.network.hidden_size) == (
        "aspect", 64, 96)
    assert (setup.features.motion_offset, setup.features.landmark_points) == (2, "no-jaw")
    assert setup.training.hold_frames == 3
