"""Distilling a predictor into a new network: a fine-tune's first minutes, so it tells where it
stands after every batch (the app's progress bar shows it) and stops between batches when
asked."""

from __future__ import annotations

import numpy as np
import pytest

from model.distillation import distil
from model.network import AUNetwork, NetworkConfig
from model.training import TrainingStopped

SMALL = NetworkConfig(au_set="abaw2020", conv_channels=(8, 8, 8, 8), hidden_size=16,
                      embedding_size=8)


def _frames(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    size = SMALL.crop_size
    images = rng.integers(0, 256, (count, 2, size, size), dtype=np.uint8)
    motion = rng.normal(size=(count, SMALL.motion_size)).astype(np.float32)
    targets = rng.random((count, SMALL.num_aus)).astype(np.float32)
    return images, motion, targets


def test_distillation_reports_every_batch_of_every_epoch():
    steps = []
    losses = distil(AUNetwork(SMALL), *_frames(20), epochs=2, batch_size=8,
                    on_progress=steps.append)

    assert [(s.epoch, s.epochs, s.frames_done, s.frames_total) for s in steps] == [
        (1, 2, 8, 20), (1, 2, 16, 20), (1, 2, 20, 20), (2, 2, 8, 20), (2, 2, 16, 20),
        (2, 2, 20, 20)]
    fractions = [s.fraction for s in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [steps[2].loss, steps[5].loss] == pytest.approx(losses)  # an epoch's mean at its end


def test_distillation_stops_between_batches_when_asked():
    steps = []
    with pytest.raises(TrainingStopped, match="epoch 1"):
        distil(AUNetwork(SMALL), *_frames(20), epochs=2, batch_size=8,
               should_stop=lambda: len(steps) == 2, on_progress=steps.append)
    assert len(steps) == 2
