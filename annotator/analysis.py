"""One decoding pass over a video: landmarks and the network's face images together.

Decoding runs in a worker thread; each frame's landmarks and aligned face image are computed
as it arrives, so a frame is decoded once and dropped. Landmark motion needs both neighbours,
so it is computed from the whole landmark table at the end (it is tiny).
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from annotator.frames import prefetch_frames
from annotator.landmarks import FaceResult, LandmarkBackend, LandmarkTable
from annotator.video import VideoInfo
from model.constants import NUM_LANDMARKS
from model.features import FeatureConfig, VideoFeatures, face_image, landmark_motion

ProgressCallback = Callable[[int, int], None]


@dataclass
class VideoAnalysis:
    landmarks: LandmarkTable
    features: VideoFeatures


def analyse_video(
    path: Path, info: VideoInfo, backend: LandmarkBackend, config: FeatureConfig | None = None,
    progress: bool = False, on_progress: ProgressCallback | None = None,
) -> VideoAnalysis:
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
    features = VideoFeatures(images, motion, table.face.copy(), has_motion, aligned)
    return VideoAnalysis(table, features)


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
