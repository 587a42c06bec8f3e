"""The training loop driven from in-memory labels (as fine-tuning does): progress reports,
a stop request, the kept checkpoint and labels that do not fit their video."""

from __future__ import annotations

import numpy as np
import pytest

from model.baseline import load_baseline
from model.checkpoint import CHECKPOINT_NAME, load_network
from model.dataset import VideoLabels, VideoSet
from model.errors import InputError
from model.network import AUNetwork, NetworkConfig
from model.training import FitInputs, TrainingConfig, TrainingStopped, fit

TINY = NetworkConfig(conv_channels=(8, 8, 16, 16), hidden_size=32, embedding_size=16)


@pytest.fixture(scope="module")
def clip(single_face, single_face_features):
    """single_face.mp4's features, labelled with the geometry baseline's pre-fill."""
    features = single_face_features
    probabilities = load_baseline().predict(features)
    labels = np.where(np.isnan(probabilities), -1, probabilities >= 0.5).astype(np.int8)
    return single_face, features, labels


def _inputs(clip, tmp_path, evaluation=True):
    path, features, labels = clip
    videos = [VideoLabels("first half", path, np.where(_half(labels, 0), labels, -1)),
              VideoLabels("second half", path, np.where(_half(labels, 1), labels, -1))]

    def load(video_path, person):  # features already in memory
        return {path: features}[video_path]

    train = VideoSet(videos[:1], load, 10_000, whole_videos=False)
    tune = VideoSet(videos[:1], load, 10_000, whole_videos=True)
    held = VideoSet(videos[1:], load, 10_000, whole_videos=True) if evaluation else None
    return FitInputs(train, tune, tmp_path / CHECKPOINT_NAME, {"note": "in memory"},
                     evaluation_set=held)


def _half(labels, which):
    rows = np.zeros(len(labels), dtype=bool)
    middle = len(labels) // 2
    rows[slice(middle, None) if which else slice(0, middle)] = True
    return rows[:, None]


def test_fit_reports_every_batch_and_epoch_and_keeps_a_loadable_checkpoint(clip, tmp_path):
    inputs = _inputs(clip, tmp_path)
    reports = []
    config = TrainingConfig(epochs=2, batch_size=8)
    result = fit(AUNetwork(TINY), inputs, config, on_progress=reports.append)
    batches = [r for r in reports if r.record is None]
    epochs = [r for r in reports if r.record is not None]
    usable = int(inputs.train_set.entries[0].usable.sum())
    assert [r.epoch for r in epochs] == [1, 2]
    assert [r.frames_done for r in batches if r.epoch == 1][-1] == usable
    assert all("evaluation" in r.record for r in epochs)  # held-out scores after each epoch
    assert epochs[-1].fraction == pytest.approx(1.0)
    _, info = load_network(inputs.checkpoint_path)
    kept = result.history[result.best_epoch - 1]
    assert info.metrics["validation"]["abaw2020"] == pytest.approx(result.best_score)
    assert info.thresholds.tolist() == pytest.approx(kept["thresholds"])
    assert info.data_summary == {"note": "in memory"}


def test_a_stop_request_ends_training_before_any_checkpoint_is_kept(clip, tmp_path):
    inputs = _inputs(clip, tmp_path, evaluation=False)
    asked = []

    def should_stop():
        asked.append(True)
        return len(asked) > 2  # two batches, then stop

    with pytest.raises(TrainingStopped):
        fit(AUNetwork(TINY), inputs, TrainingConfig(epochs=3, batch_size=8),
            should_stop=should_stop)
    assert not inputs.checkpoint_path.exists()


def test_labels_for_another_frame_count_are_refused_naming_the_video(clip):
    path, features, labels = clip
    short = VideoLabels("short", path, labels[:-5])
    with pytest.raises(InputError, match=r"single_face\.mp4: decodes \d+ frames but \d+ frames"):
        VideoSet([short], lambda video_path, person: features, 10_000, whole_videos=True)
