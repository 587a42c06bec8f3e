"""A video's network features, computed once per video + landmark backend + feature config.

The file lives beside the video's cached landmarks (annotator.cache.video_cache_dir), so
re-opening a video, predicting again or training another epoch never recomputes them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from annotator.cache import content_hash, video_cache_dir
from annotator.errors import InputError
from annotator.pipeline import landmarks_for_video
from annotator.video import iter_frames
from model.features import (
    FeatureConfig,
    FrameCountError,
    VideoFeatures,
    features_from_frames,
)

logger = logging.getLogger(__name__)


def features_path(path: str | Path, backend: str, config: FeatureConfig) -> Path:
    """Where the features of this video (by content), backend and config are cached."""
    return video_cache_dir(content_hash(path), backend) / f"features-{config.key()}.npz"


def features_for_video(
    path: str | Path,
    backend: str = "dlib",
    device: str = "cpu",
    config: FeatureConfig | None = None,
    progress: bool = False,
) -> VideoFeatures:
    """Features of every decoded frame of the video at `path`, from the cache when present."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such video file")
    config = config or FeatureConfig()
    cached = features_path(path, backend, config)
    if cached.is_file():
        try:
            return VideoFeatures.load(cached)
        except (OSError, ValueError, KeyError) as error:
            # A cache file from an interrupted or older run is rebuilt, never trusted.
            logger.warning("%s: unreadable cached features (%s); recomputing", cached, error)
    landmarks = landmarks_for_video(path, backend=backend, device=device, progress=progress)
    frames = (frame.rgb for frame in iter_frames(path))
    try:
        features = features_from_frames(frames, landmarks.landmarks, landmarks.face, config)
    except FrameCountError as error:
        raise InputError(path, f"frames and cached landmarks disagree: {error}") from None
    features.save(cached)
    logger.info("%s: features for %d frames cached in %s", path, len(features), cached)
    return features
