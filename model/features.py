"""The network's input features, computed the same way for training and for inference.

Per frame t with a face (DESIGN.md, "model features"):
- the frame is similarity-aligned to the canonical face (model.face_template) from the eye
  corners and nose, and cropped to crop_size²;
- a face mask keeps the convex hull of the jaw, the brows and forehead points (each brow point
  moved up by `forehead_fraction` of the eye–chin distance); the background becomes black;
- channel 0 is the grayscale crop, channel 1 its edge map: Canny (thresholds canny_low/canny_high)
  on the crop blurred by a Gaussian of blur_sigma pixels, both masked;
- motion is L(t+k) − L(t−k) of the aligned landmarks divided by crop_size (k = motion_offset),
  so it measures expression movement with head pose and face size removed.
Frames without a face get zero images and face=False; frames whose neighbour t−k or t+k is
missing or faceless get zero motion and has_motion=False.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from model.constants import CROP_SIZE, NUM_LANDMARKS
from model.face_template import BROWS, EYE_LEFT, EYE_RIGHT, JAW, STABLE_POINTS, template_landmarks

logger = logging.getLogger(__name__)

# Bump when the computation changes without a config change, so cached features are recomputed.
FEATURE_VERSION = 1


class FrameCountError(ValueError):
    """The frames given do not match the landmark rows one to one."""


@dataclass(frozen=True)
class FeatureConfig:
    crop_size: int = CROP_SIZE
    motion_offset: int = 1  # k in L(t+k) − L(t−k); the seed's reference code used 2
    forehead_fraction: float = 0.4  # forehead height above the brows, × eye–chin distance
    blur_sigma: float = 1.0  # pixels of the Gaussian applied before edge detection
    canny_low: int = 40  # Canny hysteresis thresholds on the blurred 8-bit gray crop
    canny_high: int = 100

    def key(self) -> str:
        """Short stable name of this configuration (and feature version), for cache files."""
        description = json.dumps({"version": FEATURE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(description.encode()).hexdigest()[:12]


@dataclass
class VideoFeatures:
    """Features of every decoded frame of one video, in decode order."""

    images: np.ndarray  # (T, 2, S, S) uint8: masked grayscale, masked edge map
    motion: np.ndarray  # (T, 136) float32: aligned L(t+k) − L(t−k) / S, flattened 68×2
    face: np.ndarray  # (T,) bool
    has_motion: np.ndarray  # (T,) bool: both neighbours exist and have a face
    aligned_landmarks: np.ndarray  # (T, 68, 2) float32 crop pixels, NaN where face is False

    def __len__(self) -> int:
        return len(self.face)

    def save(self, path: Path) -> None:
        """Write atomically, so an interrupted run never leaves a truncated cache file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(partial, **{f.name: getattr(self, f.name) for f in fields(self)})
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> VideoFeatures:
        with np.load(path, allow_pickle=False) as arrays:
            return cls(**{f.name: arrays[f.name] for f in fields(cls)})


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2×3 matrix of the rotation + uniform scale + shift mapping source points onto target
    points with the least squared error (closed form; no reflection)."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    # As complex numbers the best similarity is z ↦ c·z + t with c = Σ conj(s)·d / Σ |s|².
    s = (source - source_mean) @ np.array([1, 1j])
    d = (target - target_mean) @ np.array([1, 1j])
    c = np.sum(np.conj(s) * d) / max(np.sum(np.abs(s) ** 2), 1e-12)
    shift = target_mean - np.array(
        [c.real * source_mean[0] - c.imag * source_mean[1],
         c.imag * source_mean[0] + c.real * source_mean[1]]
    )
    return np.array([[c.real, -c.imag, shift[0]], [c.imag, c.real, shift[1]]], dtype=np.float64)


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by a 2×3 affine matrix."""
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def face_mask(aligned: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(S, S) uint8, 1 inside the face (jaw, brows, forehead hull), 0 outside."""
    eyes = (aligned[EYE_LEFT].mean(axis=0) + aligned[EYE_RIGHT].mean(axis=0)) / 2
    upward = eyes - aligned[8]  # chin → eyes: "up" in the face's own frame, whatever the roll
    forehead = aligned[BROWS] + config.forehead_fraction * upward
    outline = np.concatenate([aligned[JAW], aligned[BROWS], forehead])
    hull = cv2.convexHull(np.round(outline).astype(np.int32))
    mask = np.zeros((config.crop_size, config.crop_size), dtype=np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask


def face_image(
    frame_rgb: np.ndarray, landmarks: np.ndarray, config: FeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned masked (2, S, S) uint8 image of one face and its (68, 2) aligned landmarks."""
    size = config.crop_size
    template = template_landmarks(size)
    matrix = similarity_transform(landmarks[STABLE_POINTS], template[STABLE_POINTS])
    crop = cv2.warpAffine(
        frame_rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    blurred = cv2.GaussianBlur(gray, (0, 0), config.blur_sigma)
    # Edges come from the unmasked crop so the mask's own border does not show up as an edge.
    edges = cv2.Canny(blurred, config.canny_low, config.canny_high)
    aligned = apply_transform(matrix, landmarks)
    mask = face_mask(aligned, config)
    image = np.stack([gray * mask, edges * mask])  # (2, S, S)
    return image, aligned


def landmark_motion(
    aligned: np.ndarray, face: np.ndarray, config: FeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 136) float32 motion L(t+k) − L(t−k) in crop units and (T,) bool has_motion."""
    count, offset = len(face), config.motion_offset
    motion = np.zeros((count, NUM_LANDMARKS * 2), dtype=np.float32)
    has_motion = np.zeros(count, dtype=bool)
    if count <= 2 * offset:
        return motion, has_motion
    inner = slice(offset, count - offset)
    has_motion[inner] = face[: count - 2 * offset] & face[2 * offset :] & face[inner]
    difference = (aligned[2 * offset :] - aligned[: count - 2 * offset]) / config.crop_size
    rows = np.flatnonzero(has_motion)
    motion[rows] = difference[rows - offset].reshape(len(rows), NUM_LANDMARKS * 2)
    return motion, has_motion


def features_from_frames(
    frames: Iterable[np.ndarray],
    landmarks: np.ndarray,
    face: np.ndarray,
    config: FeatureConfig | None = None,
) -> VideoFeatures:
    """Features of a whole video from its RGB frames (decode order) and per-frame landmarks.

    `landmarks` (T, 68, 2) are in frame pixels (NaN where face is False); `frames` must yield
    exactly T frames. Frames are consumed one at a time, so a long video is never held whole.
    """
    config = config or FeatureConfig()
    face = np.asarray(face, dtype=bool)
    count, size = len(face), config.crop_size
    images = np.zeros((count, 2, size, size), dtype=np.uint8)
    aligned = np.full((count, NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
    seen = 0
    for index, frame in enumerate(frames):
        if index >= count:
            raise FrameCountError(f"more frames than landmark rows ({count})")
        seen = index + 1
        if face[index]:
            images[index], aligned[index] = face_image(frame, landmarks[index], config)
    if seen != count:
        raise FrameCountError(f"{seen} frames for {count} landmark rows")
    motion, has_motion = landmark_motion(aligned, face, config)
    logger.debug("features for %d frames, %d with a face", count, int(face.sum()))
    return VideoFeatures(images, motion, face, has_motion, aligned)
