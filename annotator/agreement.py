"""Agreement between two coders, or a coder and the model: per-AU Cohen's kappa and F1.

Only frames both sides labelled count: a coder's unreviewed frames and any -1 are left out.
Kappa is NaN where it is undefined (no frames in common, or both sides gave one single value
throughout, so chance agreement is already perfect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from db.effective import effective_labels
from db.models import Video
from model.constants import NOT_CODED, au_names
from model.metrics import confusion_counts, f1_from_counts


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


def coder_agreement(
    session: Session,
    videos: list[Video],
    first_coder: str,
    second_coder: str | None,
    au_set: str,
    side: str | None = None,
) -> Agreement:
    """Agreement over the given videos; second_coder None compares with the model's pre-fill."""
    aus = au_names(au_set)
    counts = np.zeros((len(aus), 4), dtype=np.int64)
    for video in videos:
        first = _labelled(session, video, first_coder, side, au_set)
        second = _labelled(session, video, second_coder, side, au_set)
        counts += confusion_counts(first, second)
    return agreement_from_counts(aus, counts)


def _labelled(session, video, coder, side, au_set) -> np.ndarray:
    labels = effective_labels(session, video, coder, side, au_set)
    if coder is None:
        return labels.prefill
    return np.where(labels.reviewed, labels.labels, NOT_CODED)
