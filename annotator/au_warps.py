"""Landmark-driven local warps that put known action units on a real face image.

Each AU moves a few landmark groups by a set amount in the face's own frame (x towards the
image-right eye, y towards the chin), in units of the inter-ocular distance (IOD). Around each
moved landmark the image follows a Gaussian displacement field (radius per handle), so skin,
brows and lips slide smoothly as in a real movement. Displacements are well below the field's
radius, so the warp never folds. Lip parting (AU25) also paints a dark mouth opening between
the moved inner lips, because stretching closed lips alone shows no gap to a landmark detector.

These warps make a synthetic training set whose labels are exact; they are not a face model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.face_template import EYE_LEFT, EYE_RIGHT, INNER_LIPS


@dataclass(frozen=True)
class Handle:
    points: tuple[int, ...]  # iBUG indices moved together
    dx: float  # IOD, towards the image-right eye (mirrored for the image-left half of the face)
    dy: float  # IOD, towards the chin (negative = up)
    sigma: float = 0.16  # IOD: radius of the displacement field around each point
    mirror: bool = True  # dx points away from the face's midline (True) or in absolute x


# Peak movements per AU (intensity 1). Values are a clear but natural-looking expression.
AU_HANDLES: dict[str, tuple[Handle, ...]] = {
    "AU1": (Handle((20, 21, 22, 23), 0.0, -0.13), Handle((19, 24), 0.0, -0.07)),
    "AU2": (Handle((17, 18, 25, 26), 0.0, -0.13), Handle((19, 24), 0.0, -0.06)),
    # Small radii where handles moving apart sit close: the two inner brows, the two eyelids.
    "AU4": (
        Handle((20, 21, 22, 23), -0.06, 0.11, sigma=0.09),
        Handle((18, 19, 24, 25), -0.02, 0.06, sigma=0.09),
    ),
    "AU6": (
        Handle((40, 41, 46, 47), 0.0, -0.06, sigma=0.06),
        Handle((37, 38, 43, 44), 0.0, 0.025, sigma=0.06),
        Handle((1, 2, 14, 15), -0.02, -0.07),
    ),
    "AU12": (Handle((48, 54), 0.09, -0.11), Handle((49, 59, 53, 55), 0.04, -0.05)),
    "AU15": (Handle((48, 54), 0.01, 0.11), Handle((59, 55), 0.0, 0.05)),
    "AU20": (Handle((48, 54), 0.13, 0.015), Handle((49, 59, 53, 55), 0.06, 0.0)),
    "AU25": (
        Handle((56, 57, 58, 65, 66, 67), 0.0, 0.13),
        Handle((55, 59), 0.0, 0.07),
        Handle((61, 62, 63), 0.0, -0.03),
    ),
}
SYNTHETIC_AUS = tuple(AU_HANDLES)
_MOUTH_COLOUR = np.array([45, 22, 22], dtype=np.float32)  # dark red-brown of an open mouth


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(x axis, y axis, IOD, midline point) of a face: unit vectors in image coordinates."""
    left, right = landmarks[EYE_LEFT].mean(axis=0), landmarks[EYE_RIGHT].mean(axis=0)
    across = right - left
    iod = float(np.linalg.norm(across))
    x_axis = across / iod
    y_axis = np.array([-x_axis[1], x_axis[0]])  # x rotated 90° clockwise: towards the chin
    return x_axis, y_axis, iod, (left + right) / 2


def landmark_moves(
    landmarks: np.ndarray, intensities: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) pixel displacement of each landmark for the given AU intensities (0 … 1), and
    (68,) the radius in pixels of each moved landmark's field (the smallest asked for it)."""
    x_axis, y_axis, iod, middle = face_axes(landmarks)
    moves = np.zeros_like(landmarks, dtype=np.float64)
    radii = np.full(len(landmarks), np.inf)
    for au, intensity in intensities.items():
        if intensity <= 0:
            continue
        for handle in AU_HANDLES[au]:
            for point in handle.points:
                side = np.sign((landmarks[point] - middle) @ x_axis) if handle.mirror else 1.0
                moves[point] += intensity * iod * (side * handle.dx * x_axis + handle.dy * y_axis)
                radii[point] = min(radii[point], handle.sigma * iod)
    return moves, radii


def displacement_field(
    shape: tuple[int, int], landmarks: np.ndarray, moves: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """(H, W, 2) displacement: each moved landmark pulls its surroundings with a Gaussian."""
    height, width = shape
    moved = np.flatnonzero(np.abs(moves).sum(axis=1) > 1e-6)
    field = np.zeros((height, width, 2), dtype=np.float32)
    if len(moved) == 0:
        return field
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    weights_total = np.zeros((height, width), dtype=np.float32)
    for point in moved:
        cx, cy = landmarks[point]
        weight = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radii[point] ** 2))
        field += weight[..., None] * moves[point].astype(np.float32)
        weights_total += weight
    # Neighbouring handles overlap; dividing where they pile up keeps each landmark's move
    # close to its own value instead of the sum of its neighbours'.
    return field / np.maximum(weights_total, 1.0)[..., None]


def apply_aus(
    rgb: np.ndarray, landmarks: np.ndarray, intensities: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The frame with the AUs applied, and its moved (68, 2) landmarks."""
    moves, radii = landmark_moves(landmarks, intensities)
    if not np.any(moves):
        return rgb.copy(), landmarks.copy()
    field = displacement_field(rgb.shape[:2], landmarks, moves, radii)
    height, width = rgb.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Backward mapping: the output pixel p shows the input at p − D(p) (fine for small moves).
    warped = cv2.remap(
        rgb, xs - field[..., 0], ys - field[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    moved_landmarks = (landmarks + moves).astype(np.float32)
    parting = intensities.get("AU25", 0.0)
    if parting > 0:
        warped = _paint_mouth_opening(warped, moved_landmarks, parting)
    return warped, moved_landmarks


def _paint_mouth_opening(rgb: np.ndarray, landmarks: np.ndarray, parting: float) -> np.ndarray:
    mask = np.zeros(rgb.shape[:2], dtype=np.float32)
    cv2.fillPoly(mask, [np.round(landmarks[INNER_LIPS]).astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.2) * min(1.0, parting * 1.5)
    painted = rgb * (1 - mask[..., None]) + _MOUTH_COLOUR * mask[..., None]
    return np.clip(painted, 0, 255).astype(np.uint8)
