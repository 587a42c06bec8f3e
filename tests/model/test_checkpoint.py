"""Checkpoints: safetensors round trip, refusal of pickles, AU-set checks."""

import logging
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from model.checkpoint import (
    CheckpointInfo,
    load_network,
    save_checkpoint,
)
from model.errors import InputError
from model.features import FeatureConfig
from model.network import AUNetwork, NetworkConfig, predict_probabilities
from model.predictors import AUPredictor, load_predictor

SMALL = {"conv_channels": (8, 8, 8, 8), "hidden_size": 16, "embedding_size": 8}


def _saved(tmp_path: Path, au_set: str = "abaw2020") -> tuple[Path, AUNetwork]:
    config = NetworkConfig(au_set=au_set, motion_scale=30.0, **SMALL)
    torch.manual_seed(1)
    network = AUNetwork(config).eval()
    thresholds = np.linspace(0.3, 0.7, config.num_aus).astype(np.float32)
    info = CheckpointInfo(config, thresholds, 5, "dlib", data_summary={"train": {"videos": 3}},
                          metrics={"abaw2020": 0.61}, feature_key=FeatureConfig().key())
    return save_checkpoint(tmp_path / "run" / "model.safetensors", network, info), network


def _features(count: int = 9):
    rng = np.random.default_rng(0)
    face = np.ones(count, bool)
    face[4] = False
    return SimpleNamespace(
        images=rng.integers(0, 256, (count, 2, 112, 112), dtype=np.uint8),
        motion=rng.normal(0, 0.02, (count, 136)).astype(np.float32),
        face=face,
    )


def test_loaded_predictor_predicts_exactly_like_the_saved_network(tmp_path):
    path, network = _saved(tmp_path)
    predictor = load_predictor(path)
    features = _features()
    expected = predict_probabilities(network, features.images, features.motion, features.face)
    np.testing.assert_array_equal(predictor.predict(features), expected)
    assert np.isnan(predictor.predict(features)[4]).all()


def test_predictor_carries_the_post_processing_and_backend(tmp_path):
    path, _ = _saved(tmp_path)
    predictor = load_predictor(path)
    assert isinstance(predictor, AUPredictor)
    assert predictor.au_set == "abaw2020"
    np.testing.assert_allclose(predictor.thresholds, np.linspace(0.3, 0.7, 8), rtol=1e-6)
    assert predictor.smoothing_window == 5
    assert predictor.landmark_backend == "dlib"
    assert predictor.version.startswith("model-")


def test_info_survives_the_round_trip(tmp_path):
    path, _ = _saved(tmp_path)
    network, info = load_network(path)
    assert network.config.motion_scale == 30.0
    assert info.data_summary == {"train": {"videos": 3}}
    assert info.metrics == {"abaw2020": 0.61}


def test_a_training_output_folder_can_be_given_instead_of_the_file(tmp_path):
    path, _ = _saved(tmp_path)
    assert load_predictor(path.parent).au_set == "abaw2020"


def test_saving_leaves_no_partial_file(tmp_path):
    path, _ = _saved(tmp_path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.safetensors"]


def test_torch_save_file_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(AUNetwork(NetworkConfig(**SMALL)).state_dict(), path)
    with pytest.raises(InputError, match="torch.save.*refused") as error:
        load_predictor(path)
    assert str(path) in str(error.value)


class _WritesAFileWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.safetensors"  # the name does not fool the loader
    path.write_bytes(pickle.dumps(_WritesAFileWhenUnpickled(marker)))
    with pytest.raises(InputError, match="pickle"):
        load_predictor(path)
    assert not marker.exists()


def test_checkpoint_for_another_au_set_is_a_clear_error(tmp_path):
    path, _ = _saved(tmp_path, au_set="abaw12")
    with pytest.raises(InputError, match="AU set abaw12 .12 AUs., not the requested abaw2020"):
        load_predictor(path, au_set="abaw2020")


def test_safetensors_without_our_metadata_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path))
    with pytest.raises(InputError, match="not a checkpoint"):
        load_predictor(path)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        load_predictor(tmp_path / "nowhere.safetensors")


def test_truncated_checkpoint_is_refused(tmp_path):
    path, _ = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="damaged|not a safetensors"):
        load_predictor(path)


def test_checkpoint_trained_on_other_features_warns(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    config = NetworkConfig(**SMALL)
    info = CheckpointInfo(config, np.full(8, 0.5, np.float32), 1, "dlib", feature_key="0ld")
    path = save_checkpoint(tmp_path / "model.safetensors", AUNetwork(config), info)
    load_predictor(path)
    assert "trained on features 0ld" in caplog.text


def test_checkpoint_whose_header_size_starts_like_a_pickle_still_loads(tmp_path):
    # The first byte of a safetensors file is the low byte of its header size: it can be 0x80,
    # the byte every modern pickle starts with.
    config = NetworkConfig(**SMALL)
    for padding in range(256):
        info = CheckpointInfo(config, np.full(8, 0.5, np.float32), 1, "dlib",
                              metrics={"note": "x" * padding}, feature_key=FeatureConfig().key())
        path = save_checkpoint(tmp_path / "model.safetensors", AUNetwork(config), info)
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert load_predictor(path).au_set == "abaw2020"
