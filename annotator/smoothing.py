"""Turning per-frame AU probabilities into pre-fill labels: temporal smoothing + thresholds.

Smoothing is a centred moving average over face frames only, so a no-face gap neither drags
probabilities down nor leaks across a cut; no-face frames stay NaN and label -1.
"""

from __future__ import annotations

import numpy as np

from model.constants import NOT_CODED


def smooth_probabilities(probabilities: np.ndarray, window: int) -> np.ndarray:
    """(T, K) probabilities (NaN rows = no face) → same shape, centred mean over `window` frames."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if window <= 1 or len(probabilities) == 0:
        return probabilities.copy()
    valid = ~np.isnan(probabilities)
    values = np.where(valid, probabilities, 0.0)
    half = window // 2
    # cumulative sums make this O(T) per AU even for window sizes in the hundreds
    padded_values = np.pad(values, ((half, window - 1 - half), (0, 0)))
    padded_counts = np.pad(valid.astype(np.float64), ((half, window - 1 - half), (0, 0)))
    sums = _sliding_sum(padded_values, window)
    counts = _sliding_sum(padded_counts, window)
    smoothed = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return np.where(valid, smoothed, np.nan).astype(np.float32)


def _sliding_sum(padded: np.ndarray, window: int) -> np.ndarray:
    cumulative = np.cumsum(np.pad(padded, ((1, 0), (0, 0))), axis=0)
    return cumulative[window:] - cumulative[:-window]


def threshold_labels(probabilities: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """(T, K) probabilities → int8 labels: 1 at or above the AU's threshold, 0 below, -1 no face."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float32), probabilities.shape[1:])
    labels = (probabilities >= thresholds).astype(np.int8)
    labels[np.isnan(probabilities)] = NOT_CODED
    return labels


def prefill_labels(
    probabilities: np.ndarray, thresholds: np.ndarray | float, window: int
) -> np.ndarray:
    """Smoothed and thresholded pre-fill, the labels a coder reviews."""
    return threshold_labels(smooth_probabilities(probabilities, window), thresholds)
