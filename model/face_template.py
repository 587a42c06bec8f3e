"""The canonical 68-point face every frame is aligned to, and the landmark groups of iBUG order.

MEAN_SHAPE is dlib's mean face: the `initial_shape` stored at the start of
`shape_predictor_68_face_landmarks.dat` (shipped by `face_recognition_models`), rounded to four
decimals. dlib keeps it in units of the detector's face box (x, y in [0, 1], chin slightly below
1). It is exactly left–right symmetric, which keeps left and right AU geometry comparable.
tests/model/test_features.py re-reads the file and checks these numbers.
"""

from __future__ import annotations

import numpy as np

from model.constants import CROP_SIZE, NUM_LANDMARKS

# fmt: off
MEAN_SHAPE = np.array([
    (0.0294, 0.3219), (0.0326, 0.4464), (0.0459, 0.5704), (0.0718, 0.6920),
    (0.1203, 0.8050), (0.1947, 0.9029), (0.2858, 0.9846), (0.3863, 1.0502),
    (0.5000, 1.0697), (0.6137, 1.0502), (0.7142, 0.9846), (0.8053, 0.9029),
    (0.8797, 0.8050), (0.9282, 0.6920), (0.9541, 0.5704), (0.9674, 0.4464),
    (0.9706, 0.3219), (0.1192, 0.2309), (0.1775, 0.1784), (0.2598, 0.1627),
    (0.3451, 0.1749), (0.4249, 0.2081), (0.5751, 0.2081), (0.6550, 0.1749),
    (0.7402, 0.1627), (0.8225, 0.1784), (0.8809, 0.2309), (0.5000, 0.3055),
    (0.5000, 0.3857), (0.5000, 0.4652), (0.5000, 0.5470), (0.4045, 0.6023),
    (0.4504, 0.6192), (0.5000, 0.6337), (0.5497, 0.6192), (0.5955, 0.6023),
    (0.2139, 0.3156), (0.2647, 0.2863), (0.3259, 0.2872), (0.3794, 0.3276),
    (0.3221, 0.3378), (0.2612, 0.3370), (0.6207, 0.3276), (0.6742, 0.2872),
    (0.7353, 0.2863), (0.7862, 0.3156), (0.7388, 0.3370), (0.6780, 0.3378),
    (0.3171, 0.7511), (0.3844, 0.7242), (0.4525, 0.7103), (0.5000, 0.7220),
    (0.5475, 0.7103), (0.6156, 0.7242), (0.6829, 0.7511), (0.6178, 0.8169),
    (0.5516, 0.8460), (0.5000, 0.8515), (0.4484, 0.8460), (0.3823, 0.8169),
    (0.3452, 0.7547), (0.4519, 0.7499), (0.5000, 0.7550), (0.5481, 0.7499),
    (0.6548, 0.7547), (0.5490, 0.7857), (0.5000, 0.7916), (0.4510, 0.7857),
], dtype=np.float32)
# fmt: on
assert MEAN_SHAPE.shape == (NUM_LANDMARKS, 2)

# iBUG 68-point groups (0-based). "Left"/"right" are the image's left and right.
JAW = np.arange(0, 17)
BROW_LEFT = np.arange(17, 22)
BROW_RIGHT = np.arange(22, 27)
BROWS = np.arange(17, 27)
NOSE = np.arange(27, 36)
EYE_LEFT = np.arange(36, 42)
EYE_RIGHT = np.arange(42, 48)
OUTER_LIPS = np.arange(48, 60)
INNER_LIPS = np.arange(60, 68)
LIP_CORNERS = np.array([48, 54])
# Points that barely move with expressions, so a similarity fit to them removes head pose and
# size without absorbing brow or mouth movement: eye corners and the nose.
STABLE_POINTS = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])

# The crop shows 1.2 face-box widths, centred on the box, so the brows sit about a quarter of the
# crop below its top edge and the forehead (where AU1/AU2/AU4 wrinkle) stays in view.
CROP_SPAN = 1.2
CROP_CENTRE = (0.5, 0.5)


def template_landmarks(crop_size: int = CROP_SIZE) -> np.ndarray:
    """(68, 2) float32: where each landmark of the mean face lies in a crop_size² aligned crop."""
    centre = np.asarray(CROP_CENTRE, dtype=np.float32)
    return ((MEAN_SHAPE - centre) * (crop_size / CROP_SPAN) + crop_size / 2).astype(np.float32)


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the eye centres of (..., 68, 2) landmarks, shape (...)."""
    left = landmarks[..., EYE_LEFT, :].mean(axis=-2)
    right = landmarks[..., EYE_RIGHT, :].mean(axis=-2)
    return np.linalg.norm(right - left, axis=-1)
