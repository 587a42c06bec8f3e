"""Features from Aff-Wild2's own aligned face crops (`train --faces cropped-aligned`), so a
score is comparable with challenge entries, which used them instead of their own detection.

Aff-Wild2 ships `DIR/cropped_aligned/<video>/00001.jpg ...`: one aligned face crop per decoded
frame (1-based, as label lines) where the organisers found a face. Per crop:
- the image is the crop itself (resized to the crop size), made into the grayscale and edge
  channels as model.features makes them;
- landmarks come from our backend run on the crop (padded with black, so a face the crop cuts
  at its edge is still found); they outline the face mask and give the motion;
- where the backend finds no face on a crop, the frame still has a face: it is masked with the
  mean face's outline (the crop is aligned already) and has no motion, so the network predicts
  it from texture alone;
- a frame without a crop has no face (-1 in predictions, absent when scored), as the
  challenge's own missed detections.
The frame count is the video's decoded frame count. Features are cached beside the video's
other derived files, under the crop folder's listing and the feature settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from annotator.processing.extraction import backend_for, video_cache_dir
from annotator.processing.landmarks import LandmarkBackend, largest_face
from annotator.processing.video import count_frames
from model.au_sets import NUM_LANDMARKS
from model.dataset import FeatureLoader
from model.errors import InputError
from model.features import (
    FeatureConfig,
    VideoFeatures,
    face_channels,
    landmark_motion,
    template_landmarks,
)

logger = logging.getLogger(__name__)

CROPS_FOLDER = "cropped_aligned"


def aligned_face_loader(data_dir: str | Path, backend: str = "dlib", device: str = "cpu",
                        config: FeatureConfig | None = None) -> FeatureLoader:
    """Per-person features from DIR/cropped_aligned/<video stem>/ (one person) or
    <video stem>_left/ and _right/ (two), for model/'s training and evaluation (they take a
    loader instead of reading images themselves)."""
    crops = Path(data_dir) / CROPS_FOLDER

    def load(video_path: Path, person: str | None) -> VideoFeatures:
        folder = Path(video_path).stem + (f"_{person}" if person else "")
        return crop_features(crops / folder, video_path, backend, device, config)

    return load


def crop_features(folder: Path, video_path: str | Path, backend: str = "dlib",
                  device: str = "cpu", config: FeatureConfig | None = None) -> VideoFeatures:
    """Features of every decoded frame of `video_path` from the crops in `folder`, cached."""
    config = config or FeatureConfig()
    crops = _numbered_crops(folder, Path(video_path))
    listing = json.dumps([folder.name] + [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                          for p in crops.values()])
    digest = hashlib.sha256(listing.encode()).hexdigest()[:12]
    cache = video_cache_dir(video_path, f"{backend}-{CROPS_FOLDER}")
    cached = cache / f"features-{config.key()}-{digest}.npz"
    if cached.is_file():
        try:
            return VideoFeatures.load(cached)
        except (OSError, ValueError, KeyError) as error:
            logger.warning("%s: unreadable cache file (%s); recomputing", cached, error)
    frames = count_frames(video_path)
    features = features_from_crops(crops, frames, backend_for(backend, device), config)
    features.save(cached)
    return features


def _numbered_crops(folder: Path, video_path: Path) -> dict[int, Path]:
    """Frame number (1-based) → crop file."""
    if not folder.is_dir():
        raise InputError(folder, f"no aligned face crops for {video_path.name} "
                                 f"(--faces cropped-aligned reads {CROPS_FOLDER}/<video>/)")
    crops = {int(p.stem): p for p in sorted(folder.glob("*.jpg")) if p.stem.isdigit()}
    if not crops:
        raise InputError(folder, "no numbered .jpg crops (00001.jpg, ...)")
    return crops


def features_from_crops(crops: dict[int, Path], frame_count: int, backend: LandmarkBackend,
                        config: FeatureConfig) -> VideoFeatures:
    """VideoFeatures of `frame_count` frames, from the crops of frames 1..frame_count."""
    size, pad = config.crop_size, config.crop_size // 4
    numbers = [j for j in sorted(crops) if 1 <= j <= frame_count]
    if len(numbers) < len(crops):
        logger.warning("%s: %d crops numbered past the %d decoded frames are ignored",
                       next(iter(crops.values())).parent, len(crops) - len(numbers), frame_count)
    face = np.zeros(frame_count, dtype=bool)
    found = np.zeros(frame_count, dtype=bool)  # landmarks found on the crop
    images = np.zeros((frame_count, 2, size, size), dtype=np.uint8)
    aligned = np.full((frame_count, NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
    mean_face = template_landmarks(size)
    waiting: deque[tuple[int, np.ndarray]] = deque()

    def padded_crops():
        for j in numbers:
            crop = _read_crop(crops[j], size)
            waiting.append((j - 1, crop))
            yield cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)

    backend.reset()
    for faces in backend.track(padded_crops()):
        result = largest_face(faces)  # a crop shows one face
        t, crop = waiting.popleft()
        face[t] = True
        if result.face:
            found[t], aligned[t] = True, result.landmarks - pad
        images[t] = face_channels(crop, aligned[t] if found[t] else mean_face, config)
    motion, has_motion = landmark_motion(aligned, found, config)
    logger.debug("%d crops for %d frames, landmarks on %d", len(numbers), frame_count,
                 int(found.sum()))
    return VideoFeatures(images, motion, face, has_motion, aligned)


def _read_crop(path: Path, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, "not a readable image")
    if bgr.shape[:2] != (size, size):
        bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
