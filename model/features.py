"""The network's input features, computed the same way for training and for inference, and
the canonical face every frame is aligned to.

Per frame t with a face:
- the frame is similarity-aligned to the canonical face (MEAN_SHAPE below) from the eye
  corners and nose, and cropped to crop_size²;
- a face mask keeps the convex hull of the jaw, the brows and forehead points (each brow point
  moved up by `forehead_fraction` of the eye–chin distance); the background becomes black;
- channel 0 is the grayscale crop, channel 1 its edge map: Canny (thresholds canny_low/canny_high)
  on the crop blurred by a Gaussian of blur_sigma pixels, both masked;
- motion is L(t+k) − L(t−k) of the aligned landmarks divided by crop_size (k = motion_offset),
  so it measures expression movement with head pose and face size removed; `landmark_points`
  chooses which landmarks it covers (all 68, or the 51 without the jaw line: the seed's
  reference code used 73 of a 106-point scheme, the 106 minus the face contour).
Frames without a face get zero images and face=False; frames whose neighbour t−k or t+k is
missing or faceless get zero motion and has_motion=False.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from model.arrays import (
    BlockArray,
    FrameImages,
    RowWriter,
    read_member,
    write_blocks,
    write_member,
)
from model.au_sets import CROP_SIZE, NUM_LANDMARKS
from model.files import atomic_path, load_arrays

logger = logging.getLogger(__name__)

# The canonical face: dlib's mean face, the `initial_shape` stored at the start of
# `shape_predictor_68_face_landmarks.dat` (shipped by `face_recognition_models`), rounded to four
# decimals, in units of the detector's face box (x, y in [0, 1], chin slightly below 1). It is
# exactly left–right symmetric, which keeps left and right AU geometry comparable.
# tests/model/test_features.py re-reads the file and checks these numbers.
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
EYE_CORNERS = np.array([36, 39, 42, 45])
INNER_BROWS = np.array([20, 21, 22, 23])
INNER_BROW_ENDS = np.array([21, 22])  # the points nearest the nose, left then right
OUTER_BROWS = np.array([17, 18, 25, 26])
UPPER_LIDS, LOWER_LIDS = np.array([37, 38, 43, 44]), np.array([41, 40, 47, 46])  # pairwise
INNER_UPPER_LIP, INNER_LOWER_LIP = np.array([61, 62, 63]), np.array([67, 66, 65])  # pairwise
OUTER_UPPER_LIP, OUTER_LOWER_LIP = np.array([50, 51, 52]), np.array([58, 57, 56])
UPPER_LIP_TOP, NOSE_BOTTOM, CHIN = 51, 33, 8
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


# Bump when the computation changes without a config change, so cached features are recomputed.
FEATURE_VERSION = 1

# Where the face images come from: our own detection and alignment of every decoded frame, or
# the aligned crops Aff-Wild2 ships (cropped_aligned/<video>/00001.jpg...), as challenge
# entries used them.
FACE_SOURCES = ("detected", "cropped-aligned")

# Landmarks the motion feature covers, by name (iBUG 0-based indices).
LANDMARK_SUBSETS = {"all": np.arange(NUM_LANDMARKS), "no-jaw": np.arange(len(JAW), NUM_LANDMARKS)}


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
    landmark_points: str = "all"  # the landmarks motion covers: a LANDMARK_SUBSETS name
    faces: str = "detected"  # one of FACE_SOURCES

    def __post_init__(self) -> None:
        if self.faces not in FACE_SOURCES:
            raise ValueError(f"unknown faces {self.faces!r}; known: {', '.join(FACE_SOURCES)}")
        if self.landmark_points not in LANDMARK_SUBSETS:
            known = ", ".join(LANDMARK_SUBSETS)
            raise ValueError(f"unknown landmark points {self.landmark_points!r}; known: {known}")
        if self.motion_offset < 1:
            raise ValueError(f"motion offset must be at least 1, not {self.motion_offset}")

    @property
    def motion_points(self) -> np.ndarray:
        return LANDMARK_SUBSETS[self.landmark_points]

    @property
    def motion_size(self) -> int:
        """Values per frame of the motion feature: x and y of each covered landmark."""
        return 2 * len(self.motion_points)

    def key(self) -> str:
        """Short stable name of this configuration (and feature version), for cache files.

        Settings added after the first release are named only when they differ from their
        default, so cache files and checkpoints made before keep their key."""
        values = asdict(self)
        for name, first in (("landmark_points", "all"), ("faces", "detected")):
            if values[name] == first:
                del values[name]
        description = json.dumps({"version": FEATURE_VERSION, **values}, sort_keys=True)
        return hashlib.sha256(description.encode()).hexdigest()[:12]

    def same_images(self, other: FeatureConfig) -> bool:
        """True when both make the same face images (motion may differ: motion_for recomputes
        it from the aligned landmarks)."""
        motion = {"motion_offset": other.motion_offset, "landmark_points": other.landmark_points}
        return replace(self, **motion) == other

    @classmethod
    def from_dict(cls, values: dict) -> FeatureConfig:
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown feature settings: {', '.join(sorted(unknown))}")
        return cls(**values)


class FrameFeatures(Protocol):
    """What a predictor reads per video (VideoFeatures has these fields)."""

    images: np.ndarray  # (T, 2, 112, 112) uint8: grayscale of the masked face, its edge map
    motion: np.ndarray  # (T, 2P) float32: aligned L(t+k) − L(t−k) of P landmarks, flattened
    face: np.ndarray  # (T,) bool: a face was found in the frame
    # (T, 7) float32 expression probabilities (model.expression) when known, else None
    expression: np.ndarray | None


@dataclass
class VideoFeatures:
    """Features of every decoded frame of one video, in decode order."""

    # (T, 2, S, S) uint8: masked grayscale, masked edge map; zeros where no face. Loaded from
    # a cache file it is a model.arrays.FrameImages, read from disk a piece at a time.
    images: np.ndarray | FrameImages
    motion: np.ndarray  # (T, 2P) float32: aligned L(t+k) − L(t−k) / S of P landmarks
    face: np.ndarray  # (T,) bool
    has_motion: np.ndarray  # (T,) bool: both neighbours exist and have landmarks
    aligned_landmarks: np.ndarray  # (T, 68, 2) float32 crop pixels, NaN where face is False
    # (T, 7) float32 expression probabilities (model.expression), NaN where face is False; kept
    # in a cache file of their own (annotator.processing.extraction) and attached when known, else
    # None
    expression: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.face)

    def save(self, path: Path) -> None:
        """Write one .npz atomically (an interrupted run never leaves a truncated cache file):
        the per-frame arrays, and the face images of face frames only, in compressed blocks
        written a block at a time (images kept on disk are never read whole)."""
        images = self.images
        if isinstance(images, FrameImages):
            rows, frames = images.rows, images.frames
        else:  # in memory: store the frames with a face or an image (aligned-face readers)
            images = np.asarray(images)
            frames = np.flatnonzero(self.face | images.reshape(len(images), -1).any(axis=1))
            rows = images[frames]
        with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
            for name in ("motion", "face", "has_motion", "aligned_landmarks"):
                write_member(archive, f"{name}.npy", np.asarray(getattr(self, name)))
            write_member(archive, "image_frames.npy", np.asarray(frames, np.int64))
            write_member(archive, "image_shape.npy", np.asarray(self.images.shape, np.int64))
            write_blocks(archive, "images", rows)

    @classmethod
    def load(cls, path: Path) -> VideoFeatures:
        """The features save() wrote; face images stay on disk and are read when indexed."""
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "image_frames.npy" not in names:  # written before images were kept on disk
                return load_arrays(cls, path)
            small = {name: read_member(archive, f"{name}.npy")
                     for name in ("motion", "face", "has_motion", "aligned_landmarks",
                                  "image_frames", "image_shape")}
        frames, shape = small.pop("image_frames"), tuple(int(n) for n in small.pop("image_shape"))
        rows = BlockArray(path, "images", shape[1:], np.uint8, len(frames))
        return cls(images=FrameImages(rows, frames, shape[0]), **small)


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
    aligned = apply_transform(matrix, landmarks)
    return face_channels(crop, aligned, config), aligned


def face_channels(crop_rgb: np.ndarray, aligned: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(2, S, S) uint8 of an aligned S×S RGB face crop: its grayscale and edge map, masked to
    the face that its (68, 2) landmarks outline."""
    gray = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    blurred = cv2.GaussianBlur(gray, (0, 0), config.blur_sigma)
    # Edges come from the unmasked crop so the mask's own border does not show up as an edge.
    edges = cv2.Canny(blurred, config.canny_low, config.canny_high)
    mask = face_mask(aligned, config)
    return np.stack([gray * mask, edges * mask])  # (2, S, S)


_MOTION_CHUNK = 4096  # frames whose motion is computed at once


def landmark_motion(
    aligned: np.ndarray, face: np.ndarray, config: FeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2P) float32 motion L(t+k) − L(t−k) in crop units and (T,) bool has_motion.

    `face` marks the frames whose (T, 68, 2) aligned landmarks are known."""
    count, offset = len(face), config.motion_offset
    motion = np.zeros((count, config.motion_size), dtype=np.float32)
    has_motion = np.zeros(count, dtype=bool)
    if count <= 2 * offset:
        return motion, has_motion
    inner = slice(offset, count - offset)
    has_motion[inner] = face[: count - 2 * offset] & face[2 * offset :] & face[inner]
    points = np.asarray(config.motion_points)
    rows = np.flatnonzero(has_motion)
    for start in range(0, len(rows), _MOTION_CHUNK):  # small temporaries for a long video
        part = rows[start:start + _MOTION_CHUNK]
        after = aligned[part + offset][:, points]  # (N, P, 2)
        before = aligned[part - offset][:, points]
        motion[part] = ((after - before) / config.crop_size).reshape(len(part), -1)
    return motion, has_motion


def motion_for(features: FrameFeatures, config: FeatureConfig) -> np.ndarray:
    """(T, 2P) the motion `config` asks for, whatever window and points `features` were made
    with: recomputed from the aligned landmarks when the features carry them (VideoFeatures
    does), else the features' own motion."""
    aligned = getattr(features, "aligned_landmarks", None)
    if aligned is None:
        return features.motion
    known = ~np.isnan(aligned).any(axis=(1, 2))  # (T,)
    return landmark_motion(aligned, known, config)[0]


def features_from_frames(
    frames: Iterable[np.ndarray],
    landmarks: np.ndarray,
    face: np.ndarray,
    config: FeatureConfig | None = None,
    spill: Path | None = None,
) -> VideoFeatures:
    """Features of a whole video from its RGB frames (decode order) and per-frame landmarks.

    `landmarks` (T, 68, 2) are in frame pixels (NaN where face is False); `frames` must yield
    exactly T frames. Frames are consumed one at a time, so a long video is never held whole;
    with `spill` (a file name) the face images are written there as they are made, so they are
    not held either (the file must outlive the features, e.g. until they are saved).
    """
    config = config or FeatureConfig()
    face = np.asarray(face, dtype=bool)
    count, size = len(face), config.crop_size
    writer = RowWriter(spill, (2, size, size), np.uint8) if spill is not None else None
    images = None if writer else np.zeros((count, 2, size, size), dtype=np.uint8)
    aligned = np.full((count, NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
    seen = 0
    try:
        for index, frame in enumerate(frames):
            if index >= count:
                raise FrameCountError(f"more frames than landmark rows ({count})")
            seen = index + 1
            if face[index]:
                image, aligned[index] = face_image(frame, landmarks[index], config)
                if writer:
                    writer.append(image)
                else:
                    images[index] = image
        if seen != count:
            raise FrameCountError(f"{seen} frames for {count} landmark rows")
    except BaseException:
        if writer:
            writer.discard()
        raise
    if writer:
        images = FrameImages(writer.close(), np.flatnonzero(face), count)
    motion, has_motion = landmark_motion(aligned, face, config)
    logger.debug("features for %d frames, %d with a face", count, int(face.sum()))
    return VideoFeatures(images, motion, face, has_motion, aligned)
