"""ABAW AU metrics. Frames labelled -1 (not annotated) are removed per AU before scoring.

ABAW 2020 score = 0.5 × unweighted mean of per-AU F1 + 0.5 × accuracy over all (frame, AU)
pairs that carry a label. Later editions score the mean F1 over 12 AUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AUScores:
    per_au_f1: np.ndarray  # (K,) F1 of the present class per AU; 0 where undefined
    accuracy: float  # over all labelled (frame, AU) pairs
    mean_f1: float
    abaw2020: float

    def as_dict(self, aus: tuple[str, ...]) -> dict:
        return {
            "abaw2020": self.abaw2020,
            "mean_f1": self.mean_f1,
            "accuracy": self.accuracy,
            "per_au_f1": {au: float(f1) for au, f1 in zip(aus, self.per_au_f1, strict=True)},
        }


def confusion_counts(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(K, 4) counts of true positives, false positives, false negatives, true negatives.

    truth, predicted: (T, K) in {-1, 0, 1}; pairs where either is -1 are skipped.
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape:
        raise ValueError(f"truth {truth.shape} and prediction {predicted.shape} differ in shape")
    labelled = (truth >= 0) & (predicted >= 0)
    t, p = truth == 1, predicted == 1
    return np.stack(
        [
            (labelled & t & p).sum(0),
            (labelled & ~t & p).sum(0),
            (labelled & t & ~p).sum(0),
            (labelled & ~t & ~p).sum(0),
        ],
        axis=1,
    )


def f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """Per-row F1 of the present class; 0 when an AU has neither predicted nor true positives."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def au_scores(truth: np.ndarray, predicted: np.ndarray) -> AUScores:
    counts = confusion_counts(truth, predicted)
    f1 = f1_from_counts(counts)
    total = counts.sum()
    accuracy = float((counts[:, 0] + counts[:, 3]).sum() / total) if total else 0.0
    mean_f1 = float(f1.mean()) if len(f1) else 0.0
    return AUScores(f1, accuracy, mean_f1, 0.5 * mean_f1 + 0.5 * accuracy)
