"""A video's path through the product, first half: extract → cache.

1. extract: one decoding pass finds each frame's landmarks and aligned face image together.
   Decoding runs in a worker thread; each frame's face image is computed as the frame arrives,
   so a frame is decoded once and dropped. Landmark motion needs both neighbours, so it is
   computed from the whole landmark table at the end (it is tiny). The descriptors a small
   learner uses (model.descriptors) come from the features.
2. cache: the landmark table, the features and the descriptors are kept under the video's
   content hash and landmark backend (`AU_ANNOTATOR_CACHE` moves the folder), so re-opening,
   renaming, predicting again or training never recomputes them; a changed file gets a new
   hash.
3. store: the active predictor (a model version, else the geometry baseline) turns the features
   into AU probabilities (`predict_video`), stored with the video as a prediction run
   (`store_prediction`); annotator.corpus runs the first in workers, the second in one process.
"""

from __future__ import annotations

import functools
import logging
import os
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs
from tqdm import tqdm

from annotator.landmarks import BACKENDS, FaceResult, LandmarkBackend, LandmarkTable
from annotator.video import VideoInfo, iter_frames, open_video, prefetch_frames
from model.descriptors import DESCRIPTOR_VERSION, VideoDescriptors, descriptors_from_features
from model.features import (
    FeatureConfig,
    FrameCountError,
    VideoFeatures,
    face_image,
    features_from_frames,
    landmark_motion,
)
from model.formats import NUM_LANDMARKS, InputError, content_hash

log = logging.getLogger(__name__)

# Called as progress(frames_done, frames_expected) while a video is analysed.
ProgressCallback = Callable[[int, int], None]

_backends: dict[tuple[str, str], LandmarkBackend] = {}


@dataclass
class VideoAnalysis:
    landmarks: LandmarkTable
    features: VideoFeatures
    descriptors: VideoDescriptors


# --- extract -----------------------------------------------------------------------------


def analyse_video(
    path: Path, info: VideoInfo, backend: LandmarkBackend, config: FeatureConfig | None = None,
    progress: bool = False, on_progress: ProgressCallback | None = None,
) -> tuple[LandmarkTable, VideoFeatures]:
    """Landmarks + features of every decoded frame (no cache)."""
    config = config or FeatureConfig()
    backend.reset()
    results, times = [], []
    faces = _FaceImages(config)
    frames_in_order: deque[np.ndarray] = deque()
    expected = info.frame_count_claimed or None

    def frames():
        for frame in prefetch_frames(path):
            times.append(frame.time)
            frames_in_order.append(frame.rgb)  # held only until its landmarks come back
            yield frame.rgb

    bar = tqdm(total=expected, unit="frame", desc=path.name, disable=not progress)
    with bar:
        for result in backend.track(frames()):
            faces.add(frames_in_order.popleft(), result)
            results.append(result)
            bar.update(1)
            if on_progress is not None:
                on_progress(len(results), max(expected or 0, len(results)))
        bar.total = len(results)  # containers misreport counts: end the bar at what decoded
        bar.refresh()
    table = LandmarkTable.from_results(results, times)
    images, aligned = faces.collect()
    motion, has_motion = landmark_motion(aligned, table.face, config)
    return table, VideoFeatures(images, motion, table.face.copy(), has_motion, aligned)


class _FaceImages:
    """Aligned face images computed on worker threads (OpenCV releases the GIL), in order.

    At most `_IN_FLIGHT` frames wait for a worker, so memory stays bounded.
    """

    _IN_FLIGHT = 64

    def __init__(self, config: FeatureConfig):
        self.config = config
        size = config.crop_size
        self.blank = np.zeros((2, size, size), np.uint8)
        self.no_face = np.full((NUM_LANDMARKS, 2), np.nan, np.float32)
        self.pending: deque[Future] = deque()
        self.images: list[np.ndarray] = []
        self.aligned: list[np.ndarray] = []

    def add(self, rgb: np.ndarray, result: FaceResult) -> None:
        if result.face:
            self.pending.append(_pool().submit(face_image, rgb, result.landmarks, self.config))
        else:
            self.pending.append(_done((self.blank, self.no_face)))
        while len(self.pending) > self._IN_FLIGHT:
            self._take_oldest()

    def _take_oldest(self) -> None:
        image, aligned = self.pending.popleft().result()
        self.images.append(image)
        self.aligned.append(aligned)

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        while self.pending:
            self._take_oldest()
        count, size = len(self.images), self.config.crop_size
        images = np.array(self.images, np.uint8).reshape(count, 2, size, size)
        aligned = np.array(self.aligned, np.float32).reshape(count, NUM_LANDMARKS, 2)
        return images, aligned


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="face")


def make_backend(name: str = "dlib", device: str = "cpu") -> LandmarkBackend:
    """A ready landmark backend by name; `fan` loads face-alignment's networks on `device`."""
    if name == "dlib":
        from annotator.landmarks.dlib_backend import DlibBackend  # loads dlib's model file

        return DlibBackend()
    if name == "fan":
        from annotator.landmarks.fan_backend import FanBackend  # imports face-alignment

        return FanBackend(device=device)
    raise ValueError(f"unknown landmark backend {name!r}; choose one of {', '.join(BACKENDS)}")


def backend_for(name: str, device: str) -> LandmarkBackend:
    """One loaded backend per (name, device) and process: loading FAN takes seconds."""
    key = (name, device)
    if key not in _backends:
        _backends[key] = make_backend(name, device)
    return _backends[key]


# --- cache -------------------------------------------------------------------------------


def cache_root() -> Path:
    override = os.environ.get("AU_ANNOTATOR_CACHE")
    return Path(override) if override else Path(platformdirs.user_cache_dir("au-annotator"))


def video_cache_dir(path: str | Path, backend: str) -> Path:
    """Folder for everything derived from one video (by content) with one landmark backend."""
    return cache_root() / content_hash(path)[:32] / backend


def landmark_cache_path(path: str | Path, backend: str) -> Path:
    return video_cache_dir(path, backend) / "landmarks.npz"


def features_path(path: str | Path, backend: str, config: FeatureConfig) -> Path:
    """Where the features of this video (by content), backend and config are cached."""
    return video_cache_dir(path, backend) / f"features-{config.key()}.npz"


def descriptors_path(path: str | Path, backend: str, config: FeatureConfig) -> Path:
    name = f"descriptors-{config.key()}-v{DESCRIPTOR_VERSION}.npz"
    return video_cache_dir(path, backend) / name


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
    descriptors_file = descriptors_path(path, backend, config)
    table = _cached(LandmarkTable, landmarks_file)
    if table is not None:
        features = _cached(VideoFeatures, features_file)
        if features is None:
            features = _features_from_landmarks(path, table, config)
            features.save(features_file)
        descriptors = _cached(VideoDescriptors, descriptors_file)
        if descriptors is None:
            descriptors = descriptors_from_features(features)
            descriptors.save(descriptors_file)
        return VideoAnalysis(table, features, descriptors)
    table, features = analyse_video(
        path, info, backend_for(backend, device), config, progress, on_progress
    )
    descriptors = descriptors_from_features(features)
    features.save(features_file)
    descriptors.save(descriptors_file)
    table.save(landmarks_file)  # last: its presence means the others are there too
    return VideoAnalysis(table, features, descriptors)


def features_for_video(
    path: str | Path, backend: str = "dlib", device: str = "cpu",
    config: FeatureConfig | None = None, progress: bool = False,
) -> VideoFeatures:
    """The network's features of every decoded frame, cached per video, backend and config."""
    return analyse_and_cache(path, backend, device, config, progress).features


def descriptors_for_video(path: str | Path, backend: str = "dlib", device: str = "cpu",
                          config: FeatureConfig | None = None) -> VideoDescriptors:
    """The learner's descriptors of every decoded frame, from the cache when present (reading
    them costs a fraction of a second even for a long video; the features are not loaded)."""
    cached = cached_descriptors(path, backend, config)
    if cached is not None:
        return cached
    return analyse_and_cache(path, backend, device, config).descriptors


def cached_descriptors(path: str | Path, backend: str = "dlib",
                       config: FeatureConfig | None = None) -> VideoDescriptors | None:
    """The descriptors when the cache holds them (never computed here); None otherwise."""
    if not Path(path).is_file():
        return None
    return _cached(VideoDescriptors, descriptors_path(path, backend, config or FeatureConfig()))


def _cached(kind, file: Path):
    if not file.is_file():
        return None
    try:
        return kind.load(file)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        # A cache file that is truncated, corrupt or from an older run is rebuilt, not fatal.
        log.warning("%s: unreadable cache file (%s); recomputing", file, error)
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
    cached = _cached(LandmarkTable, landmark_cache_path(path, backend))
    if cached is not None:
        open_video(path)
        return cached
    return analyse_and_cache(path, backend, device, None, progress, on_progress).landmarks
