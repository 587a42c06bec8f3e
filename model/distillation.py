"""Teaching a network what a predictor already does (distillation), so a fine-tune starts from
its parent's behaviour instead of from nothing.

A network trained from scratch on a few hundred reviewed frames of one person memorises them
and forgets everything else (on the demo clip it ended far below the geometry baseline it was
meant to improve). Distilled first, it starts where its parent stands on every processed video,
and fine-tuning only moves it where the coders' labels say so.

The teacher's per-frame probabilities are soft targets; the loss is the two-way cross-entropy
between them and the network's present/absent distribution, averaged over frames and AUs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional

from model.network import AUNetwork, batch_tensors
from model.training import TrainingProgress, TrainingStopped

logger = logging.getLogger(__name__)


def distillation_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits (B, K, 2) against soft present-probabilities (B, K)."""
    log_probabilities = functional.log_softmax(logits, dim=-1)  # (B, K, 2)
    soft = torch.stack([1 - targets, targets], dim=-1)  # (B, K, 2)
    return -(soft * log_probabilities).sum(-1).mean()


def distil(
    network: AUNetwork, images: np.ndarray, motion: np.ndarray, targets: np.ndarray,
    epochs: int, batch_size: int = 64, learning_rate: float = 1e-3, seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> list[float]:
    """Train `network` so its present-probabilities follow `targets` (N, K) in [0, 1] on the
    frames (images (N, 2, S, S) uint8, motion (N, 136)); returns each epoch's mean loss.

    `should_stop` is asked between batches; when it says so, the training stops where it is
    (the caller's TrainingStopped handling applies). `on_progress` hears after every batch
    where the distillation stands (frames of this epoch, its mean loss so far)."""
    device = next(network.parameters()).device
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=1e-4)
    targets = np.clip(np.nan_to_num(targets, nan=0.0), 0.0, 1.0).astype(np.float32)
    losses = []
    network.train()
    for epoch in range(epochs):
        order = rng.permutation(len(targets))
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            if should_stop is not None and should_stop():
                raise TrainingStopped(f"stopped while distilling (epoch {epoch + 1})")
            chosen = np.sort(order[start : start + batch_size])
            inputs = [t.to(device) for t in batch_tensors(images[chosen], motion[chosen])]
            target = torch.from_numpy(targets[chosen]).to(device)
            loss = distillation_loss(network(*inputs), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
            if on_progress is not None:
                on_progress(TrainingProgress(epoch + 1, epochs, min(start + batch_size, len(order)),
                                             len(order), total / batches))
        losses.append(total / max(batches, 1))
        logger.info("distillation epoch %d: loss %.4f", epoch + 1, losses[-1])
    network.eval()
    return losses
