"""Held-out scores of a predictor, over the AUs the held-out frames carry labels for.

Coders often review only some AUs; an AU without a single labelled held-out pair has no F1 to
measure, and counting it as 0 would only dilute both sides of a comparison. So the mean F1 runs
over the scored AUs, and the ABAW 2020 score is 0.5 × that mean + 0.5 × the accuracy over all
labelled pairs (unlabelled AUs add no pairs). With every AU labelled this is exactly the
challenge's score.
"""

from __future__ import annotations

import numpy as np

from model.constants import NOT_CODED, au_names
from model.metrics import AUScores
from model.tuning import metric_name


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
