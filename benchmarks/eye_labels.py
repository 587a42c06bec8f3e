"""The clips' labels judged by eye (tests/data/eye_labels) and agreement with them, for the
benchmarks that measure the pre-fill on real video."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.affwild2_files import read_label_file  # noqa: E402
from model.au_sets import NOT_CODED, au_names  # noqa: E402

EYE_LABELS = ROOT / "tests" / "data" / "eye_labels"
DEMO = ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"
SINGLE_FACE = ROOT / "tests" / "data" / "single_face.mp4"
AUS = au_names("abaw2020")
JUDGED = ("AU4", "AU6", "AU12", "AU25")  # the AUs labelled by eye on both clips


def eye_labels(video: Path) -> np.ndarray:
    """(T, 8) labels judged by eye for one of the clips; -1 where nobody was sure."""
    return read_label_file(EYE_LABELS / f"{video.stem}.txt").labels


def agreement(predicted: np.ndarray, truth: np.ndarray, frames: np.ndarray,
              aus: tuple[str, ...] = JUDGED) -> dict[str, tuple[float, int]]:
    """Per AU (and "pooled"): share of `frames` judged by eye where `predicted` agrees, and
    how many frames that is. A -1 prediction (no face) counts as absent, as a submission."""
    predicted = np.where(predicted == NOT_CODED, 0, predicted)
    result, right, total = {}, 0, 0
    for au in aus:
        k = AUS.index(au)
        judged = frames & (truth[:, k] != NOT_CODED)
        agree = int((predicted[judged, k] == truth[judged, k]).sum())
        result[au] = (agree / max(int(judged.sum()), 1), int(judged.sum()))
        right, total = right + agree, total + int(judged.sum())
    result["pooled"] = (right / max(total, 1), total)
    return result


def format_agreement(name: str, scores: dict[str, tuple[float, int]]) -> str:
    return f"{name:>20}: " + "  ".join(f"{au} {share:.3f}" for au, (share, _) in scores.items())
