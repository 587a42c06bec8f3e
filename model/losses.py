"""Training loss: per-AU two-way cross-entropy, positives up-weighted, unannotated frames masked."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional

from model.constants import NOT_CODED


def positive_weights(labels: np.ndarray, cap: float) -> np.ndarray:
    """(K,) present-class weight per AU: negatives / positives in `labels` (T, K), -1 skipped.

    Most AUs are absent in most frames; without this a network learns "never present" and still
    scores high accuracy. Capped at `cap`; an AU with no positives at all gets weight 1.
    """
    labels = np.asarray(labels)
    positives = (labels == 1).sum(0).astype(np.float64)
    negatives = (labels == 0).sum(0).astype(np.float64)
    ratio = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    return np.clip(ratio, 1.0, cap).astype(np.float32)


def au_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean cross-entropy over annotated (frame, AU) pairs.

    logits (B, K, 2), labels (B, K) int in {-1, 0, 1}, weights (K,) for the present class.
    """
    annotated = labels != NOT_CODED  # (B, K)
    if not annotated.any():
        return logits.sum() * 0.0  # keeps the graph so a fully masked batch is a no-op step
    targets = labels.clamp(min=0).long()  # (B, K)
    losses = functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, K)
    pair_weights = torch.where(targets == 1, weights.expand_as(losses), torch.ones_like(losses))
    pair_weights = pair_weights * annotated
    return (losses * pair_weights).sum() / pair_weights.sum()
