"""The seed network's shapes, AU sets and configuration."""

import numpy as np
import pytest
import torch

from model.au_sets import AU_SETS
from model.network import AUNetwork, NetworkConfig, predict_probabilities

SMALL = {"conv_channels": (8, 8, 8, 8), "hidden_size": 16, "embedding_size": 8}


def _inputs(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 2, 112, 112), dtype=np.uint8)
    motion = rng.normal(0, 0.01, (count, 136)).astype(np.float32)
    return images, motion


@pytest.mark.parametrize("au_set", sorted(AU_SETS))
def test_one_present_probability_per_au_of_the_set(au_set):
    network = AUNetwork(NetworkConfig(au_set=au_set, **SMALL))
    images, motion = _inputs(5)
    probabilities = predict_probabilities(network, images, motion, np.ones(5, bool))
    assert probabilities.shape == (5, len(AU_SETS[au_set]))
    assert probabilities.dtype == np.float32
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_logits_are_two_way_per_au():
    network = AUNetwork(NetworkConfig(**SMALL))
    logits = network(torch.zeros(3, 2, 112, 112), torch.zeros(3, 136))
    assert logits.shape == (3, 8, 2)


def test_frames_without_a_face_get_nan_rows_and_others_do_not():
    network = AUNetwork(NetworkConfig(**SMALL))
    images, motion = _inputs(6)
    face = np.array([True, False, True, True, False, True])
    probabilities = predict_probabilities(network, images, motion, face)
    assert np.isnan(probabilities[~face]).all()
    assert np.isfinite(probabilities[face]).all()


def test_missing_motion_of_a_face_frame_is_read_as_no_movement():
    network = AUNetwork(NetworkConfig(**SMALL))
    images, motion = _inputs(2)
    motion[0] = np.nan
    with_nan = predict_probabilities(network, images, motion, np.ones(2, bool))
    motion[0] = 0.0
    with_zero = predict_probabilities(network, images, motion, np.ones(2, bool))
    np.testing.assert_allclose(with_nan, with_zero)


def test_a_frame_is_predicted_the_same_alone_or_in_a_batch():
    network = AUNetwork(NetworkConfig(**SMALL))
    images, motion = _inputs(7)
    together = predict_probabilities(network, images, motion, np.ones(7, bool), batch_size=4)
    alone = predict_probabilities(network, images[3:4], motion[3:4], np.ones(1, bool))
    np.testing.assert_allclose(together[3:4], alone, atol=1e-5)


def test_au_order_matters_to_the_query_gru():
    # The same fused feature must give different outputs for different AU embeddings: the
    # query GRU reads one embedding per AU, so two AUs are not forced to share a prediction.
    network = AUNetwork(NetworkConfig(**SMALL)).eval()
    logits = network(torch.zeros(1, 2, 112, 112), torch.zeros(1, 136))
    assert not torch.allclose(logits[0, 0], logits[0, 1])


def test_crops_of_another_size_are_refused():
    network = AUNetwork(NetworkConfig(**SMALL))
    with pytest.raises(ValueError, match="do not fit"):
        predict_probabilities(network, np.zeros((1, 2, 64, 64), np.uint8),
                              np.zeros((1, 136), np.float32), np.ones(1, bool))


def test_sum_fusion_builds_and_runs():
    network = AUNetwork(NetworkConfig(fusion="sum", **SMALL))
    assert network(torch.zeros(2, 2, 112, 112), torch.zeros(2, 136)).shape == (2, 8, 2)


def test_default_sizes_follow_the_design():
    config = NetworkConfig()
    network = AUNetwork(config)
    assert (config.hidden_size, config.embedding_size, config.crop_size) == (96, 64, 112)
    assert network.query.embeddings.shape == (8, 64)
    # small enough to train on a CPU: well under a million weights
    assert sum(p.numel() for p in network.parameters()) < 1_000_000


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"au_set": "abaw9"}, "known sets: abaw2020, abaw12"),
     ({"fusion": "attention"}, "unknown fusion"),
     ({"crop_size": 100}, "not divisible")],
)
def test_bad_configurations_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**settings)


def test_config_round_trips_through_a_dict():
    config = NetworkConfig(au_set="abaw12", conv_channels=(4, 8, 8, 8), motion_scale=42.0)
    assert NetworkConfig.from_dict(config.to_dict()) == config
