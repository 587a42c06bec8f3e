"""Fusing geometry with expression evidence: hand-computed cases, per-person calibration,
settings a researcher changes, and an open mouth without a smile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.au_sets import au_names
from model.baseline import GeometryBaseline, load_baseline
from model.errors import InputError
from model.expression import EXPRESSIONS
from model.features import template_landmarks
from model.fusion import (
    SETTINGS_VARIABLE,
    FusionSettings,
    calibrated_strengths,
    fuse,
    fusion_settings,
)

AUS = au_names("abaw2020")


def _expressions(**rows: list[float]) -> np.ndarray:
    """(T, 7) probabilities from one list per named expression (others 0)."""
    frames = len(next(iter(rows.values())))
    table = np.zeros((frames, len(EXPRESSIONS)), np.float32)
    for name, values in rows.items():
        table[:, EXPRESSIONS.index(name)] = values
    return table


def _sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-value))


def test_hand_computed_fusion_of_a_smile():
    # frame 0 is the calm frame (most neutral; 0.2 × 5 frames = 1): happy rests at 0.05
    expression = _expressions(neutral=[0.9, 0.19, 0.6, 0.5, 0.5],
                              happy=[0.05, 0.81, 0.05, 0.05, 0.05],
                              sad=[0.05, 0.0, 0.35, 0.45, 0.45])
    geometry = np.full((5, len(AUS)), 0.5, np.float32)
    geometry[0] = 0.9999  # capped at log-odds 4
    fused = fuse(geometry, expression, np.ones(5, bool), AUS)
    au12, au25, au4 = AUS.index("AU12"), AUS.index("AU25"), AUS.index("AU4")
    # frame 1: happy strength (0.81 − 0.05) / 0.95 = 0.8 → AU12 logit 0 + 10 × (0.8 − 0.35)
    assert fused[1, au12] == pytest.approx(_sigmoid(4.5), abs=1e-5)
    # AU25: happy implies it at 0.5 → support 0.4, one-sided weight 3
    assert fused[1, au25] == pytest.approx(_sigmoid(1.2), abs=1e-5)
    # frame 0: geometry's logit capped at 4, no support: 4 − 10 × 0.35
    assert fused[0, au12] == pytest.approx(_sigmoid(0.5), abs=1e-5)
    # frame 2: sad strength (0.35 − 0.05) / 0.95 → AU4 support, 10 × (0.3158 − 0.35)
    assert fused[2, au4] == pytest.approx(_sigmoid(10 * (0.3 / 0.95 - 0.35)), abs=1e-5)


def test_a_person_who_rests_with_a_sad_looking_face_is_not_frowning_throughout():
    # sad 0.5 on every calm frame: the person's neutral, not a frown
    sad = [0.5] * 8 + [0.95] * 2
    expression = _expressions(neutral=[0.5] * 8 + [0.05] * 2, sad=sad)
    strengths = calibrated_strengths(expression, np.ones(10, bool), FusionSettings())
    sad_column = strengths[:, EXPRESSIONS.index("sad")]
    assert sad_column[:8] == pytest.approx(0.0)
    assert sad_column[8:] == pytest.approx(0.9, abs=1e-5)
    fused = fuse(np.full((10, len(AUS)), 0.3, np.float32), expression, np.ones(10, bool), AUS)
    assert (fused[:8, AUS.index("AU4")] < 0.5).all() and (fused[8:, AUS.index("AU4")] > 0.5).all()


def test_frames_without_a_face_stay_nan():
    expression = _expressions(neutral=[0.9, np.nan, 0.1], happy=[0.1, np.nan, 0.9])
    geometry = np.full((3, len(AUS)), 0.5, np.float32)
    geometry[1] = np.nan
    fused = fuse(geometry, expression, np.array([True, False, True]), AUS)
    assert np.isnan(fused[1]).all() and np.isfinite(fused[[0, 2]]).all()


class _Face:
    """What the baseline reads: aligned landmarks, face flags and attached expressions."""

    def __init__(self, aligned: np.ndarray, expression: np.ndarray):
        self.aligned_landmarks = aligned.astype(np.float32)
        self.face = np.ones(len(aligned), dtype=bool)
        self.expression = expression


def _singing_face() -> np.ndarray:
    """(40, 68, 2): the mean face still for 20 frames, then singing: jaw and lower lip drop
    (lips 10 px apart), the mouth widens and its corners ride up with the stretch."""
    face = template_landmarks()
    face[[67, 66, 65], 1] = face[[61, 62, 63], 1]  # closed lips at rest
    frames = np.repeat(face[None], 40, axis=0)
    singing = frames[20:]
    singing[:, [48], 0] -= 3.0  # corners 3 px outwards each side, 3 px up
    singing[:, [54], 0] += 3.0
    singing[:, [48, 54], 1] -= 3.0
    singing[:, 55:60, 1] += 10.0  # lower lip and chin down
    singing[:, 64:68, 1] += 10.0
    singing[:, 5:12, 1] += 10.0
    return frames


def test_an_open_mouth_without_a_smile_is_au25_and_not_au12():
    aligned = _singing_face()
    # the expression network reads the singer as neutral throughout (no happiness)
    expression = _expressions(neutral=[0.9] * 40, happy=[0.02] * 40, surprise=[0.05] * 40)
    features = _Face(aligned, expression)
    geometry_alone = GeometryBaseline().predict(features)
    fused = load_baseline().predict(features)
    au12, au25 = AUS.index("AU12"), AUS.index("AU25")
    assert geometry_alone[20:, au12].min() > 0.9  # geometry alone takes it for a smile
    assert fused[20:, au12].max() < 0.4  # below the threshold: the pre-fill says absent
    assert fused[20:, au25].min() > 0.9 and fused[:20, au25].max() < 0.1


def test_the_same_mouth_with_a_happy_face_is_a_smile():
    expression = _expressions(neutral=[0.9] * 20 + [0.05] * 20, happy=[0.02] * 20 + [0.95] * 20)
    fused = load_baseline().predict(_Face(_singing_face(), expression))
    assert fused[20:, AUS.index("AU12")].min() > 0.9
    assert fused[:20, AUS.index("AU12")].max() < 0.1


def test_a_researcher_changes_the_prototype_table_through_a_toml_file(tmp_path, monkeypatch):
    settings = tmp_path / "fusion.toml"
    settings.write_text('calm_share = 0.3\n[prototypes.happy]\nAU6 = 1.0\n'
                        '[aus.AU12]\nweight = 0.0\nneutral = 0.0\n', encoding="utf-8")
    monkeypatch.setenv(SETTINGS_VARIABLE, str(settings))
    loaded = fusion_settings()
    assert loaded.calm_share == 0.3 and loaded.prototypes["happy"] == {"AU6": 1.0}
    assert loaded.prototypes["sad"]["AU4"] == 1.0  # rows not named keep their defaults
    expression = _expressions(neutral=[0.9] * 20 + [0.05] * 20, happy=[0.02] * 20 + [0.95] * 20)
    fused = load_baseline().predict(_Face(_singing_face(), expression))
    geometry = GeometryBaseline().predict(_Face(_singing_face(), expression))
    np.testing.assert_allclose(fused[:, AUS.index("AU12")], geometry[:, AUS.index("AU12")],
                               atol=1e-5)  # AU12 no longer listens to the expression


def test_unreadable_fusion_settings_name_the_file(tmp_path):
    settings = tmp_path / "fusion.toml"
    settings.write_text("[prototypes.joy]\nAU12 = 1.0\n", encoding="utf-8")
    with pytest.raises(InputError, match="fusion.toml.*unknown expressions joy"):
        FusionSettings.from_toml(settings)
    settings.write_text("calm_share = [", encoding="utf-8")
    with pytest.raises(InputError, match="fusion.toml"):
        FusionSettings.from_toml(settings)
