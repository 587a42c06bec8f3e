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
from annotator.landmarks import LandmarkBackend, LandmarkTable, make_backend
from annotator.video import VideoInfo, count_frames, open_video
from model.features import FeatureConfig, VideoFeatures

log = logging.getLogger(__name__)

__all__ = ["analyse_and_cache", "count_frames", "landmarks_for_video", "video_summary"]

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
    """Landmarks and features of every decoded frame, from the cache when both are there."""
    path = Path(path)
    config = config or FeatureConfig()
    info = open_video(path)  # fails early, with a clear message, on a bad file
    landmarks_file, features_file = landmark_cache_path(path, backend), features_path(
        path, backend, config
    )
    if landmarks_file.exists() and features_file.exists():
        log.info("landmarks and features of %s from cache", path)
        return VideoAnalysis(LandmarkTable.load(landmarks_file), VideoFeatures.load(features_file))
    analysis = analyse_video(
        path, info, backend_for(backend, device), config, progress, on_progress
    )
    analysis.features.save(features_file)
    analysis.landmarks.save(landmarks_file)
    _write_summary(landmarks_file.parent, info, analysis.landmarks, backend)
    return analysis


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
