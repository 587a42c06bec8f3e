"""The landmark-geometry baseline: AU probabilities without a trained network.

It pre-fills videos whenever no trained checkpoint is active, fused with the expression
network's evidence (model.fusion) unless asked for geometry alone. From each frame's aligned
landmarks it measures distances in units of that frame's inter-ocular distance (IOD, eye centre
to eye centre, about 40 px in the 112-px crop), compares them with the same video's resting face
(the per-measure median over face frames: most frames of a coded video are near neutral), and
maps each AU's evidence through a logistic:

    p = 1 / (1 + exp(-gain · (evidence − offset)))

`offset` is the evidence (in IOD) at which the AU is as likely as not, `gain` how sharply the
probability rises around it (gain 40 means ±0.05 IOD, about 2 px, spans p 0.12 … 0.88).
Lip parting is measured absolutely (closed lips have no gap whatever the resting face), so a
video of someone talking throughout still scores AU25.

abaw12 AUs the landmarks cannot show (none of the 68 points sits on the cheek or chin boss) get
the evidence of their nearest geometric sign, listed in RULES; none is left at a constant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from model.au_sets import DEFAULT_AU_SET, au_names
from model.expression import features_expression
from model.features import (
    CHIN,
    EYE_CORNERS,
    INNER_BROW_ENDS,
    INNER_BROWS,
    INNER_LOWER_LIP,
    INNER_UPPER_LIP,
    LIP_CORNERS,
    LOWER_LIDS,
    NOSE_BOTTOM,
    OUTER_BROWS,
    OUTER_LOWER_LIP,
    OUTER_UPPER_LIP,
    UPPER_LIDS,
    UPPER_LIP_TOP,
    inter_ocular_distance,
)
from model.fusion import FusionSettings, fuse, fusion_settings

logger = logging.getLogger(__name__)

MEASURES = (
    "inner_brow_height", "outer_brow_height", "brow_gap", "eye_opening", "lip_gap",
    "mouth_width", "corner_height", "upper_lip_to_nose", "lip_thickness", "chin_drop",
)
CLOSED_LIPS = 0.05  # IOD: inner-lip gap below this counts as a closed mouth
MIN_RESTING_SHARE = 0.1


_CHUNK = 4096  # frames measured at once


def geometry_measures(aligned: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame face measures in IOD units from (T, 68, 2) aligned landmarks (y grows down)."""
    iod = inter_ocular_distance(aligned)[:, None]  # (T, 1)
    x, y = aligned[..., 0] / iod, aligned[..., 1] / iod  # (T, 68)
    eye_line = y[:, EYE_CORNERS].mean(axis=1)
    left_corner, right_corner = LIP_CORNERS
    brow_left, brow_right = INNER_BROW_ENDS
    return {
        "inner_brow_height": eye_line - y[:, INNER_BROWS].mean(axis=1),
        "outer_brow_height": eye_line - y[:, OUTER_BROWS].mean(axis=1),
        "brow_gap": x[:, brow_right] - x[:, brow_left],
        "eye_opening": (y[:, LOWER_LIDS] - y[:, UPPER_LIDS]).mean(axis=1),
        "lip_gap": lip_gap(aligned),
        "mouth_width": np.hypot(x[:, right_corner] - x[:, left_corner],
                                y[:, right_corner] - y[:, left_corner]),
        "corner_height": eye_line - y[:, LIP_CORNERS].mean(axis=1),  # grows as corners rise
        "upper_lip_to_nose": y[:, UPPER_LIP_TOP] - y[:, NOSE_BOTTOM],
        "lip_thickness": (
            y[:, INNER_UPPER_LIP] - y[:, OUTER_UPPER_LIP]
            + y[:, OUTER_LOWER_LIP] - y[:, INNER_LOWER_LIP]
        ).mean(axis=1),
        "chin_drop": y[:, CHIN] - eye_line,
    }


def lip_gap(landmarks: np.ndarray) -> np.ndarray:
    """(T,) gap between the inner lips in IOD units of (T, 68, 2) landmarks (NaN without a
    face); under CLOSED_LIPS the mouth is closed."""
    gap = np.maximum(landmarks[:, INNER_LOWER_LIP, 1] - landmarks[:, INNER_UPPER_LIP, 1], 0)
    return gap.mean(axis=1) / inter_ocular_distance(landmarks)


def resting_frames(lip_gap: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames taken as the video's resting face.

    Face frames with closed lips (gap under CLOSED_LIPS), when at least MIN_RESTING_SHARE of the
    face frames are so; else all face frames. A coded video often holds an expression for most
    of its length (single_face.mp4 smiles with open lips in two thirds of its frames), and a
    closed mouth excludes most smiles, laughs and speech.
    """
    closed = face & (lip_gap < CLOSED_LIPS)
    return closed if closed.sum() >= MIN_RESTING_SHARE * face.sum() else face


def changes_from_rest(measures: dict[str, np.ndarray], face: np.ndarray) -> dict[str, np.ndarray]:
    """Each measure minus its median over the video's resting frames."""
    resting = resting_frames(measures["lip_gap"], face)
    return {name: values - np.median(values[resting]) for name, values in measures.items()}


def geometry_changes(aligned: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(T, len(MEASURES)) float64: the measures of (T, 68, 2) aligned landmarks as changes from
    the video's resting face, in MEASURES order; NaN rows where `face` is False."""
    changes = np.full((len(face), len(MEASURES)), np.nan)
    if face.any():
        moved = changes_from_rest(face_measures(aligned, face), face)
        changes[face] = np.stack([moved[name] for name in MEASURES], axis=1)[face]
    return changes


def au_evidence(measures: dict[str, np.ndarray], face: np.ndarray) -> dict[str, np.ndarray]:
    """Evidence per AU in IOD units: change from the resting face in the AU's direction."""
    change = changes_from_rest(measures, face)
    raise_corners = change["corner_height"]
    widen = change["mouth_width"]
    narrow_eyes = -change["eye_opening"]
    return {
        "AU1": change["inner_brow_height"],
        "AU2": change["outer_brow_height"],
        "AU4": -change["inner_brow_height"] - change["brow_gap"],
        # No landmark sits on the cheek; a raised cheek shows as narrowed eyes in a smile.
        "AU6": narrow_eyes + 0.5 * np.maximum(raise_corners, 0),
        "AU7": narrow_eyes,
        "AU10": -change["upper_lip_to_nose"],
        "AU12": raise_corners + 0.5 * widen,
        "AU15": -raise_corners,
        # Stretched sideways, not lifted: a smile widens the mouth too, but lifts the corners
        # by more than half as much as it widens them.
        "AU20": widen - 2.0 * np.maximum(raise_corners, 0),
        "AU23": -change["lip_thickness"] - np.maximum(widen, 0),
        "AU24": -change["lip_thickness"],
        "AU25": measures["lip_gap"],  # absolute: a closed mouth has no gap
        "AU26": change["chin_drop"],
    }


@dataclass(frozen=True)
class Rule:
    offset: float  # evidence (IOD) at p = 0.5
    gain: float  # per IOD


# Calibrated by eye on the shared real clips (single_face.mp4, WolfgangLanger_Pexels.mp4) so
# clear expressions land near 0.9 and resting frames near 0.1.
RULES: dict[str, Rule] = {
    "AU1": Rule(0.06, 45.0),
    "AU2": Rule(0.06, 45.0),
    "AU4": Rule(0.08, 40.0),
    "AU6": Rule(0.06, 40.0),
    "AU7": Rule(0.05, 45.0),
    "AU10": Rule(0.06, 40.0),
    "AU12": Rule(0.08, 35.0),
    "AU15": Rule(0.05, 45.0),
    "AU20": Rule(0.08, 35.0),
    "AU23": Rule(0.06, 40.0),
    "AU24": Rule(0.06, 40.0),
    "AU25": Rule(0.06, 60.0),
    "AU26": Rule(0.15, 25.0),
}


class GeometryBaseline:
    """An AUPredictor (model.predictors) for the cold start: landmark geometry, fused with the
    expression network's evidence (model.fusion) unless `fusion` is None.

    `predict` needs the features' `aligned_landmarks` (model.features.VideoFeatures has them)
    and, for fusion, their `expression` (computed from their face images when not attached).
    """

    version = "baseline"
    kind = "geometry-baseline"  # as stored runs name it
    hold_frames = 0  # the geometry changes smoothly; nothing to hold

    def __init__(self, au_set: str = DEFAULT_AU_SET, landmark_backend: str = "dlib",
                 smoothing_window: int = 5, fusion: FusionSettings | None = None):
        self.au_set = au_set
        self.aus = au_names(au_set)
        self.thresholds = np.full(len(self.aus), 0.5, dtype=np.float32)
        self.smoothing_window = smoothing_window
        self.landmark_backend = landmark_backend
        self.fusion = fusion

    def predict(self, features) -> np.ndarray:
        """(T, K) float32 probabilities; NaN rows for frames without a face."""
        geometry = self.geometry_probabilities(features)
        if self.fusion is None or not np.asarray(features.face).any():
            return geometry
        return fuse(geometry, features_expression(features), features.face, self.aus,
                    self.fusion)

    def geometry_probabilities(self, features) -> np.ndarray:
        """(T, K) float32 probabilities of the landmark geometry alone."""
        face = np.asarray(features.face, dtype=bool)
        probabilities = np.full((len(face), len(self.aus)), np.nan, dtype=np.float32)
        if not face.any():
            return probabilities
        evidence = au_evidence(face_measures(features.aligned_landmarks, face), face)
        for column, au in enumerate(self.aus):
            rule = RULES[au]
            logit = rule.gain * (evidence[au] - rule.offset)
            probabilities[:, column] = 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))
        probabilities[~face] = np.nan
        return probabilities

    @property
    def settings(self) -> dict:
        """What a prediction run records of this predictor (the fusion table, or none)."""
        return {"fusion": None if self.fusion is None else self.fusion.to_dict()}


def face_measures(aligned: np.ndarray, face: np.ndarray) -> dict[str, np.ndarray]:
    """geometry_measures of every frame (float64), `_CHUNK` frames at a time so a long video's
    temporaries stay small; frames without a face get a stand-in face's landmarks so the
    arithmetic stays finite (callers make their output NaN). `face` must hold a True."""
    stand_in = np.asarray(aligned[np.flatnonzero(face)[0]], np.float64)
    parts = []
    for start in range(0, len(face), _CHUNK):
        block = np.asarray(aligned[start:start + _CHUNK], np.float64)
        parts.append(geometry_measures(
            np.where(face[start:start + _CHUNK, None, None], block, stand_in)))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def load_baseline(au_set: str | None = None, expression: bool = True) -> GeometryBaseline:
    """The cold-start predictor for an AU set (ABAW 2020's by default): geometry fused with
    expression evidence by the settings in force (model.fusion.fusion_settings), or geometry
    alone when `expression` is False."""
    return GeometryBaseline(au_set or DEFAULT_AU_SET,
                            fusion=fusion_settings() if expression else None)
