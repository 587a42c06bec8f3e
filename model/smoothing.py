"""Turning per-frame AU probabilities into pre-fill labels: temporal smoothing + thresholds,
and choosing both on labelled videos.

Smoothing is a centred moving average over face frames only, so a no-face gap neither drags
probabilities down nor leaks across a cut; no-face frames stay NaN and label -1. Holding
positives (the seed's reference code held each one for 3 more frames) comes after smoothing:
a frame is present when it or one of the `hold_frames` frames before it reaches the threshold.

Tuning follows the challenge's scoring: every labelled (frame, AU) pair counts, so a frame
without a face (NaN probabilities, no prediction) is scored as "absent", as a submission must
fill it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.au_sets import NOT_CODED
from model.metrics import AUScores, au_scores, metric_name, metric_value

# What tuning chooses from unless told otherwise: smoothing windows (frames) and thresholds.
SMOOTHING_WINDOWS = (1, 3, 5, 9, 15, 25)
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


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


def hold_positives(probabilities: np.ndarray, frames: int) -> np.ndarray:
    """(T, K) → same shape: each face frame takes the highest value of itself and the `frames`
    frames before it, so after thresholding a present AU stays present `frames` frames longer.
    Thresholding the held values equals holding the thresholded labels, so thresholds can be
    tuned on them directly. No-face frames stay NaN (a hold passes over them)."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    missing = np.isnan(probabilities)
    values = np.where(missing, -np.inf, probabilities)
    held = values.copy()
    for shift in range(1, min(frames, len(values)) + 1):
        held[shift:] = np.maximum(held[shift:], values[:-shift])  # (T - shift, K)
    return np.where(missing, np.nan, held).astype(np.float32)


def post_processed(probabilities: np.ndarray, window: int, hold_frames: int = 0) -> np.ndarray:
    """(T, K) probabilities smoothed, then held: what the thresholds are compared with."""
    return hold_positives(smooth_probabilities(probabilities, window), hold_frames)


def prefill_labels(
    probabilities: np.ndarray, thresholds: np.ndarray | float, window: int, hold_frames: int = 0
) -> np.ndarray:
    """Smoothed, held and thresholded pre-fill, the labels a coder reviews."""
    return threshold_labels(post_processed(probabilities, window, hold_frames), thresholds)


@dataclass(frozen=True)
class PostProcessing:
    thresholds: np.ndarray  # (K,) float32
    smoothing_window: int
    hold_frames: int = 0  # frames each positive is held after smoothing (0: none)


def score_probabilities(
    probabilities: list[np.ndarray], labels: list[np.ndarray], post: PostProcessing
) -> AUScores:
    """Scores of per-video probabilities after smoothing and holding (within each video) and
    thresholds; no-face frames count as absent."""
    predicted = [prefill_labels(p, post.thresholds, post.smoothing_window, post.hold_frames)
                 for p in probabilities]
    return au_scores(np.concatenate(labels), np.concatenate(predicted))


def _pair_counts(
    probabilities: np.ndarray, truth: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """True and false positives (G,) of one AU at each threshold, plus positive/negative totals."""
    labelled = truth != NOT_CODED
    scores = np.nan_to_num(probabilities[labelled], nan=-np.inf)  # no face: never "present"
    present = truth[labelled] == 1
    positives, negatives = np.sort(scores[present]), np.sort(scores[~present])
    true_pos = len(positives) - np.searchsorted(positives, grid, side="left")
    false_pos = len(negatives) - np.searchsorted(negatives, grid, side="left")
    return true_pos, false_pos, len(positives), len(negatives)


def _best_thresholds(
    probabilities: np.ndarray, truth: np.ndarray, grid: np.ndarray, metric: str
) -> np.ndarray:
    """(K,) thresholds maximising each AU's share of the metric.

    Both scores split into a sum over AUs: mean F1 is Σ F1_k / K and the accuracy over all
    labelled pairs is Σ correct_k / N, so each AU's threshold can be chosen on its own.
    """
    count = probabilities.shape[1]
    total_pairs = max(int((truth != NOT_CODED).sum()), 1)
    thresholds = np.empty(count, dtype=np.float32)
    for k in range(count):
        tp, fp, positives, negatives = _pair_counts(probabilities[:, k], truth[:, k], grid)
        fn, tn = positives - tp, negatives - fp
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        share = f1 / count
        if metric == "abaw2020":
            share = 0.5 * share + 0.5 * (tp + tn) / total_pairs
        thresholds[k] = grid[int(np.argmax(share))]
    return thresholds


def tune_postprocessing(
    probabilities: list[np.ndarray],
    labels: list[np.ndarray],
    au_set: str,
    windows: tuple[int, ...],
    grid: tuple[float, ...],
    hold_frames: int = 0,
) -> tuple[PostProcessing, AUScores]:
    """The smoothing window and per-AU thresholds scoring best on these videos (positives held
    `hold_frames` frames)."""
    truth = np.concatenate(labels)  # (T, K)
    best: tuple[float, PostProcessing, AUScores] | None = None
    for window in windows:
        smoothed = np.concatenate([post_processed(p, window, hold_frames) for p in probabilities])
        # float32 like the probabilities, so tuning and threshold_labels compare identically
        grid32 = np.asarray(grid, dtype=np.float32)
        thresholds = _best_thresholds(smoothed, truth, grid32, metric_name(au_set))
        post = PostProcessing(thresholds, window, hold_frames)
        scores = score_probabilities(probabilities, labels, post)
        if best is None or metric_value(scores, au_set) > best[0]:
            best = (metric_value(scores, au_set), post, scores)
    return best[1], best[2]


def label_prior_baseline(labels: list[np.ndarray], au_set: str) -> AUScores:
    """The best constant prediction per AU (always present or always absent), chosen with the
    labels themselves: the score any predictor must beat to have learnt something."""
    constant = [np.full(label.shape, 0.5, dtype=np.float32) for label in labels]
    _, scores = tune_postprocessing(constant, labels, au_set, (1,), (0.0, 1.0))
    return scores
