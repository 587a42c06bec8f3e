"""Per-video processing: one decoding pass for landmarks and features, both cached.

A video's landmark table and network features are cached under its content hash and landmark
backend, so re-opening, renaming, predicting again or training never recomputes them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from annotator.analysis import VideoAnalysis, analyse_video
from annotator.cache import content_hash, video_cache_dir
from annotator.errors import InputError
from annotator.landmarks import LandmarkBackend, LandmarkTable, make_backend
from annotator.video import VideoInfo, count_frames, iter_frames, open_video
from model.features import FeatureConfig, FrameCountError, VideoFeatures, features_from_frames

log = logging.getLogger(__name__)

__all__ = [
    "analyse_and_cache", "count_frames", "features_for_video", "landmarks_for_video",
    "video_summary",
]

# Called as progress(frames_done, frames_expected) while a video is analysed.
ProgressCallback = Callable[[int, int], None]

_backends: dict[tuple[str, str], LandmarkBackend] = {}


def backend_for(name: str, device: str) -> LandmarkBackend:
    """One loaded backend per (name, device) and process: loading FAN takes seconds."""
    key = (name, device)
    if key not in _backends:
        _backends[key] = make_backend(name, device)
    return _backends[key]


def landmark_cache_path(path: str | Path, backend: str) -> Path:
    return video_cache_dir(content_hash(path), backend) / "landmarks.npz"


def features_path(path: str | Path, backend: str, config: FeatureConfig) -> Path:
    """Where the features of this video (by content), backend and config are cached."""
    return video_cache_dir(content_hash(path), backend) / f"features-{config.key()}.npz"


def analyse_and_cache(
    path: str | Path, backend: str = "dlib", device: str = "cpu",
    config: FeatureConfig | None = None, progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> VideoAnalysis:
    """Landmarks and features of every decoded frame, computing only what is not cached."""
    path = Path(path)
    config = config or FeatureConfig()
    info = open_video(path)  # fails early, with a clear message, on a bad file
    landmarks_file = landmark_cache_path(path, backend)
    features_file = features_path(path, backend, config)
    if landmarks_file.exists():
        table = LandmarkTable.load(landmarks_file)
        features = _cached_features(features_file)
        if features is None:
            features = _features_from_landmarks(path, table, config)
            features.save(features_file)
        return VideoAnalysis(table, features)
    analysis = analyse_video(
        path, info, backend_for(backend, device), config, progress, on_progress
    )
    analysis.features.save(features_file)
    analysis.landmarks.save(landmarks_file)
    _write_summary(landmarks_file.parent, info, analysis.landmarks, backend)
    return analysis


def features_for_video(
    path: str | Path, backend: str = "dlib", device: str = "cpu",
    config: FeatureConfig | None = None, progress: bool = False,
) -> VideoFeatures:
    """The network's features of every decoded frame, cached per video, backend and config."""
    return analyse_and_cache(path, backend, device, config, progress).features


def _cached_features(features_file: Path) -> VideoFeatures | None:
    if not features_file.is_file():
        return None
    try:
        return VideoFeatures.load(features_file)
    except (OSError, ValueError, KeyError) as error:
        # A cache file from an interrupted or older run is rebuilt, never trusted.
        log.warning("%s: unreadable cached features (%s); recomputing", features_file, error)
        return None


def _features_from_landmarks(path: Path, table: LandmarkTable, config: FeatureConfig):
    frames = (frame.rgb for frame in iter_frames(path))
    try:
        return features_from_frames(frames, table.landmarks, table.face, config)
    except FrameCountError as error:
        raise InputError(path, f"frames and cached landmarks disagree: {error}") from None


def landmarks_for_video(
    path: str | Path, backend: str = "dlib", device: str = "cpu", progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> LandmarkTable:
    """Landmarks for every decoded frame of a video, from the cache when present."""
    cached = landmark_cache_path(path, backend)
    if cached.exists():
        open_video(path)
        return LandmarkTable.load(cached)
    return analyse_and_cache(path, backend, device, None, progress, on_progress).landmarks


def _write_summary(folder: Path, info: VideoInfo, table: LandmarkTable, backend: str) -> None:
    summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(info).items()}
    summary.update(frames=len(table), frames_with_face=int(table.face.sum()), backend=backend)
    (folder / "video.json").write_text(json.dumps(summary, indent=2))


def video_summary(path: str | Path, backend: str) -> dict | None:
    """What the cache knows of a processed video (frames, faces, fps...), or None."""
    summary = video_cache_dir(content_hash(path), backend) / "video.json"
    return json.loads(summary.read_text()) if summary.exists() else None
