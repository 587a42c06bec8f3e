"""The landmark-geometry baseline: obvious expressions in real clips, protocol, no-face rows."""

from __future__ import annotations

import numpy as np
import pytest

from model.au_sets import au_names
from model.baseline import GeometryBaseline
from model.features import template_landmarks
from model.predictors import AUPredictor, load_predictor


def _column(predictor: GeometryBaseline, probabilities: np.ndarray, au: str) -> np.ndarray:
    return probabilities[:, predictor.aus.index(au)]


def test_without_a_checkpoint_the_baseline_predicts():
    predictor = load_predictor(None)
    assert isinstance(predictor, GeometryBaseline) and isinstance(predictor, AUPredictor)
    assert predictor.au_set == "abaw2020" and predictor.thresholds.shape == (8,)


def test_broad_smile_raises_au12_and_au25_in_single_face(single_face_features):
    predictor = GeometryBaseline()
    probabilities = predictor.predict(single_face_features)
    neutral, smiling = slice(0, 12), slice(30, 66)  # neutral start; teeth showing later
    for au in ("AU12", "AU25"):
        values = _column(predictor, probabilities, au)
        assert values[neutral].mean() < 0.2 and values[smiling].mean() > 0.8
    assert _column(predictor, probabilities, "AU15")[smiling].mean() < 0.1


@pytest.mark.slow
def test_laughing_part_of_the_demo_raises_au12_and_au25(demo_features):
    predictor = GeometryBaseline()
    probabilities = predictor.predict(demo_features)
    crying, laughing = slice(0, 300), slice(330, None)
    au12 = _column(predictor, probabilities, "AU12")
    assert au12[laughing].mean() > au12[crying].mean() + 0.2
    au25 = _column(predictor, probabilities, "AU25")
    assert au25[laughing].mean() > 0.9 > au25[crying].mean() + 0.2


def test_no_face_frames_get_nan_rows(no_face_features):
    predictor = GeometryBaseline()
    probabilities = predictor.predict(no_face_features)
    assert probabilities.shape == (95, 8) and np.isnan(probabilities).all()


def _mean_face_clip(frames: int = 20) -> np.ndarray:
    """(T, 68, 2) dlib's mean face, still, with its slightly open inner lips closed."""
    face = template_landmarks()
    face[[67, 66, 65], 1] = face[[61, 62, 63], 1]
    return np.repeat(face[None], frames, axis=0)


class _Landmarks:
    """Features reduced to what the baseline reads, from hand-made landmark tracks."""

    def __init__(self, aligned: np.ndarray):
        self.aligned_landmarks = aligned.astype(np.float32)
        self.face = np.ones(len(aligned), dtype=bool)


def test_parting_the_lips_of_the_mean_face_gives_au25_only_there():
    aligned = _mean_face_clip()
    aligned[10:, 65:68, 1] += 6.0  # inner lower lip 6 px (0.15 IOD) down in frames 10-19
    predictor = GeometryBaseline()
    au25 = _column(predictor, predictor.predict(_Landmarks(aligned)), "AU25")
    assert au25[:10].max() < 0.1 and au25[10:].min() > 0.9


def test_raising_the_brows_of_the_mean_face_gives_au1_and_au2():
    aligned = _mean_face_clip()
    aligned[15:, 17:27, 1] -= 4.0  # brows 4 px (0.1 IOD) up in the last five frames
    predictor = GeometryBaseline()
    probabilities = predictor.predict(_Landmarks(aligned))
    for au in ("AU1", "AU2"):
        assert _column(predictor, probabilities, au)[15:].min() > 0.8
    assert _column(predictor, probabilities, "AU4")[15:].max() < 0.1


def test_abaw12_estimates_every_au_from_geometry(single_face_features):
    predictor = GeometryBaseline("abaw12")
    probabilities = predictor.predict(single_face_features)
    assert probabilities.shape == (72, len(au_names("abaw12")))
    assert np.isfinite(probabilities).all()
    assert (probabilities >= 0).all() and (probabilities <= 1).all()
