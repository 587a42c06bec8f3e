"""Post-processing tuned on validation: one smoothing window and a threshold per AU.

Scoring follows the challenge: every labelled (frame, AU) pair counts, so a frame without a
face (NaN probabilities, no prediction) is scored as "absent", as a submission must fill it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.smoothing import prefill_labels, smooth_probabilities
from model.constants import ABSENT, NOT_CODED
from model.metrics import AUScores, au_scores


@dataclass(frozen=True)
class PostProcessing:
    thresholds: np.ndarray  # (K,) float32
    smoothing_window: int


def metric_name(au_set: str) -> str:
    """The challenge score of an AU set: ABAW 2020's for 8 AUs, mean F1 for the 12-AU set."""
    return "abaw2020" if au_set == "abaw2020" else "mean_f1"


def metric_value(scores: AUScores, au_set: str) -> float:
    return scores.abaw2020 if metric_name(au_set) == "abaw2020" else scores.mean_f1


def score_labels(truth: np.ndarray, predicted: np.ndarray) -> AUScores:
    """Scores with no-face predictions (-1) counted as absent; unlabelled truth (-1) skipped."""
    return au_scores(truth, np.where(predicted == NOT_CODED, ABSENT, predicted))


def score_probabilities(
    probabilities: list[np.ndarray], labels: list[np.ndarray], post: PostProcessing
) -> AUScores:
    """Scores of per-video probabilities after smoothing (within each video) and thresholds."""
    predicted = [prefill_labels(p, post.thresholds, post.smoothing_window) for p in probabilities]
    return score_labels(np.concatenate(labels), np.concatenate(predicted))


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
) -> tuple[PostProcessing, AUScores]:
    """The smoothing window and per-AU thresholds scoring best on these videos."""
    truth = np.concatenate(labels)  # (T, K)
    best: tuple[float, PostProcessing, AUScores] | None = None
    for window in windows:
        smoothed = np.concatenate([smooth_probabilities(p, window) for p in probabilities])
        # float32 like the probabilities, so tuning and threshold_labels compare identically
        grid32 = np.asarray(grid, dtype=np.float32)
        thresholds = _best_thresholds(smoothed, truth, grid32, metric_name(au_set))
        post = PostProcessing(thresholds, window)
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
