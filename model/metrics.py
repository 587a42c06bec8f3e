"""AU metrics: the ABAW scores, held-out scores over the AUs coders labelled, and agreement
between two coders.

Frames labelled -1 (not annotated) are removed per AU before scoring; a prediction of -1 (no
face, nothing predicted) counts as absent, as the challenge's scorer reads a submission, so a
predictor cannot raise its score by leaving hard frames out. ABAW 2020 score = 0.5 × unweighted
mean of per-AU F1 + 0.5 × accuracy over all (frame, AU) pairs that carry a label. Later editions
score the mean F1 over 12 AUs.

Coders often review only some AUs; an AU without a single labelled held-out pair has no F1 to
measure, and counting it as 0 would only dilute both sides of a comparison. So
`restricted_scores` takes the mean F1 over the scored AUs, and the ABAW 2020 score as 0.5 × that
mean + 0.5 × the accuracy over all labelled pairs (unlabelled AUs add no pairs). With every AU
labelled this is exactly the challenge's score.

Agreement (Cohen's kappa and F1 per AU) counts only frames both sides labelled; kappa is NaN
where it is undefined (no frames in common, or both sides gave one single value throughout, so
chance agreement is already perfect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.au_sets import ABSENT, NOT_CODED, au_names


@dataclass(frozen=True)
class AUScores:
    per_au_f1: np.ndarray  # (K,) F1 of the present class per AU; 0 where undefined
    accuracy: float  # over all labelled (frame, AU) pairs
    mean_f1: float
    abaw2020: float
    counts: np.ndarray | None = None  # (K, 4) true/false positives, false/true negatives

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
    """Scores of (T, K) predictions against the truth: unlabelled truth (-1) is skipped, a -1
    prediction counts as absent."""
    predicted = np.asarray(predicted)
    counts = confusion_counts(truth, np.where(predicted == NOT_CODED, ABSENT, predicted))
    f1 = f1_from_counts(counts)
    total = counts.sum()
    accuracy = float((counts[:, 0] + counts[:, 3]).sum() / total) if total else 0.0
    mean_f1 = float(f1.mean()) if len(f1) else 0.0
    return AUScores(f1, accuracy, mean_f1, 0.5 * mean_f1 + 0.5 * accuracy, counts)


def metric_name(au_set: str) -> str:
    """The challenge score of an AU set: ABAW 2020's for 8 AUs, mean F1 for the 12-AU set."""
    return "abaw2020" if au_set == "abaw2020" else "mean_f1"


def metric_value(scores: AUScores, au_set: str) -> float:
    return scores.abaw2020 if metric_name(au_set) == "abaw2020" else scores.mean_f1


def scored_aus(labels: list[np.ndarray], au_set: str) -> tuple[str, ...]:
    """The AUs with at least one labelled (frame, AU) pair in `labels` (per-video (T, K))."""
    labelled = np.concatenate(labels) != NOT_CODED
    return tuple(au for k, au in enumerate(au_names(au_set)) if labelled[:, k].any())


def restricted_scores(scores: AUScores | dict, au_set: str, scored: tuple[str, ...]) -> dict:
    """{metric, score, abaw2020, mean_f1, accuracy, per_au_f1 (None when not scored)}."""
    values = scores.as_dict(au_names(au_set)) if isinstance(scores, AUScores) else scores
    per_au = {au: (float(f1) if au in scored else None)
              for au, f1 in values["per_au_f1"].items()}
    mean_f1 = float(np.mean([per_au[au] for au in scored])) if scored else 0.0
    accuracy = float(values["accuracy"])
    abaw2020 = 0.5 * mean_f1 + 0.5 * accuracy
    metric = metric_name(au_set)
    return {
        "metric": metric,
        "score": abaw2020 if metric == "abaw2020" else mean_f1,
        "abaw2020": abaw2020,
        "mean_f1": mean_f1,
        "accuracy": accuracy,
        "per_au_f1": per_au,
    }


def au_contributions(scores: AUScores, au_set: str, scored: tuple[str, ...]) -> np.ndarray:
    """(K,) what each AU adds to the restricted score (restricted_scores' "score"): both the
    mean F1 over the scored AUs and the accuracy over all labelled pairs are sums over AUs, so
    the score is the sum of these shares, and each AU's predictor can be chosen on its own."""
    aus = au_names(au_set)
    in_scored = np.array([au in scored for au in aus])
    share = np.where(in_scored, scores.per_au_f1, 0.0) / max(len(scored), 1)
    if metric_name(au_set) == "abaw2020":
        counts = scores.counts
        correct = counts[:, 0] + counts[:, 3]
        share = 0.5 * share + 0.5 * correct / max(int(counts.sum()), 1)
    return share


@dataclass(frozen=True)
class Agreement:
    aus: tuple[str, ...]
    kappa: np.ndarray  # (K,) Cohen's kappa, NaN where undefined
    f1: np.ndarray  # (K,) F1 of "present" (symmetric in the two sides)
    frames: np.ndarray  # (K,) frames both sides labelled

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            au: {"kappa": float(k), "f1": float(f), "frames": int(n)}
            for au, k, f, n in zip(self.aus, self.kappa, self.f1, self.frames, strict=True)
        }


def agreement_from_counts(aus: tuple[str, ...], counts: np.ndarray) -> Agreement:
    """From (K, 4) counts of (both 1, only second 1, only first 1, both 0)."""
    counts = counts.astype(np.float64)
    total = counts.sum(axis=1)
    both_present, second_only, first_only, both_absent = counts.T
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = (both_present + both_absent) / total
        first_present = (both_present + first_only) / total
        second_present = (both_present + second_only) / total
        chance = first_present * second_present + (1 - first_present) * (1 - second_present)
        kappa = np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)
    return Agreement(aus, kappa, f1_from_counts(counts), total.astype(np.int64))


def label_agreement(aus: tuple[str, ...], first: np.ndarray, second: np.ndarray) -> Agreement:
    """Agreement of two (T, K) label arrays; -1 in either leaves the frame out."""
    return agreement_from_counts(aus, confusion_counts(first, second))
