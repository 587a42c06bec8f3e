"""The predictor and learner contracts as a caller meets them: every predictor says what it is
and how its output becomes labels (hold frames included), and in-video adaptation is a learner
that reports each AU it learns and stops when its progress callback asks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.adapt import ADAPTED_KIND, InVideoAdaptation, VideoReview
from model.au_sets import NOT_CODED, au_names
from model.baseline import load_baseline
from model.checkpoint import CheckpointInfo, save_checkpoint
from model.features import FeatureConfig
from model.learners import LearningCancelled, LearnStep
from model.network import AUNetwork, NetworkConfig
from model.predictors import AUPredictor, RecordedPrediction, load_predictor

AUS = au_names("abaw2020")
SMALL = {"conv_channels": (8, 8, 8, 8), "hidden_size": 16, "embedding_size": 8}


def _checkpoint(tmp_path: Path, hold_frames: int) -> Path:
    config = NetworkConfig(au_set="abaw2020", motion_scale=30.0, **SMALL)
    torch.manual_seed(1)
    info = CheckpointInfo(config, np.full(config.num_aus, 0.4, np.float32), 7, "dlib",
                          feature_key=FeatureConfig().key(), hold_frames=hold_frames)
    return save_checkpoint(tmp_path / "model.safetensors", AUNetwork(config).eval(), info)


def test_every_predictor_kind_says_what_it_is_and_how_long_it_holds(tmp_path):
    fused, geometry = load_baseline(), load_baseline(expression=False)
    network = load_predictor(_checkpoint(tmp_path, hold_frames=3))
    assert [(p.kind, p.hold_frames) for p in (fused, geometry, network)] == [
        ("geometry-baseline", 0), ("geometry-baseline", 0), ("network", 3)]
    assert fused.settings["fusion"] is not None and geometry.settings == {"fusion": None}
    assert all(isinstance(p, AUPredictor) for p in (fused, geometry, network))


def _video(frames: int = 600, seed: int = 0):
    """A video whose AU12 shows in the first appearance column; reviewed on its first half."""
    rng = np.random.default_rng(seed)
    appearance = rng.normal(size=(frames, 20)).astype(np.float32)
    geometry = rng.normal(size=(frames, 4))
    truth = (appearance[:, 0] > 0.3).astype(np.int8)
    labels = np.full((frames, len(AUS)), NOT_CODED, np.int8)
    labels[: frames // 2, AUS.index("AU12")] = truth[: frames // 2]
    face = np.ones(frames, bool)
    reviewed = VideoReview(appearance, geometry, face, labels, fps=25.0)
    prior = RecordedPrediction(
        "abaw2020", "geometry-baseline", np.full((frames, len(AUS)), 0.3, np.float32),
        np.full(len(AUS), 0.5, np.float32), 5, 2, "dlib", "baseline")
    return reviewed, prior


def test_adaptation_learns_an_adapted_predictor_with_the_priors_hold():
    reviewed, prior = _video()
    steps: list[LearnStep] = []

    outcome = InVideoAdaptation().fit(reviewed, prior, lambda step: steps.append(step) or False)

    assert [step.stage for step in steps] == [f"learning {au}" for au in AUS]
    assert outcome.learnt_aus == ["AU12"]
    adapted = outcome.predictor
    assert isinstance(adapted, AUPredictor)
    assert (adapted.kind, adapted.hold_frames, adapted.smoothing_window) == (ADAPTED_KIND, 2, 5)
    assert adapted.thresholds[AUS.index("AU12")] == 0.5
    unlearnt = [k for k, au in enumerate(AUS) if au != "AU12"]
    assert np.array_equal(adapted.predict(reviewed)[:, unlearnt], prior.probabilities[:, unlearnt])


def test_adaptation_stops_when_its_progress_asks():
    reviewed, prior = _video()
    seen: list[str] = []

    def stop_at_au12(step: LearnStep) -> bool:
        seen.append(step.stage)
        return step.stage == "learning AU12"

    with pytest.raises(LearningCancelled, match="AU12"):
        InVideoAdaptation().fit(reviewed, prior, stop_at_au12)
    assert seen[-1] == "learning AU12" and len(seen) == AUS.index("AU12") + 1


def test_a_recorded_prediction_refuses_another_videos_frames():
    reviewed, prior = _video(frames=600)
    other, _ = _video(frames=100)
    with pytest.raises(ValueError, match="600 frames"):
        prior.predict(other)
