"""One decoding pass over a video: landmarks and the network's face images together.

Decoding runs in a worker thread; each frame's landmarks and aligned face image are computed
as it arrives, so a frame is decoded once and dropped. Landmark motion needs both neighbours,
so it is computed from the whole landmark table at the end (it is tiny).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from annotator.frames import prefetch_frames
from annotator.landmarks import LandmarkBackend, LandmarkTable
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
    results, times, images = [], [], []
    blank = np.zeros((2, config.crop_size, config.crop_size), np.uint8)
    aligned_rows = []
    no_face_row = np.full((NUM_LANDMARKS, 2), np.nan, np.float32)
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
            rgb = frames_in_order.popleft()
            if result.face:
                image, aligned = face_image(rgb, result.landmarks, config)
            else:
                image, aligned = blank, no_face_row
            results.append(result)
            images.append(image)
            aligned_rows.append(aligned)
            bar.update(1)
            if on_progress is not None:
                on_progress(len(results), max(expected or 0, len(results)))
        bar.total = len(results)  # containers misreport counts: end the bar at what decoded
        bar.refresh()
    table = LandmarkTable.from_results(results, times)
    aligned = np.array(aligned_rows, np.float32).reshape(len(results), NUM_LANDMARKS, 2)
    motion, has_motion = landmark_motion(aligned, table.face, config)
    images_array = np.array(images, np.uint8).reshape(len(results), 2, config.crop_size,
                                                      config.crop_size)
    features = VideoFeatures(images_array, motion, table.face.copy(), has_motion, aligned)
    return VideoAnalysis(table, features)
