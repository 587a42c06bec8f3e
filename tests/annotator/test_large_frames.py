"""Frames larger than the analysis size: analysed scaled down
(annotator.processing.extraction.ANALYSIS_SIDE), landmarks stored in the video's own pixels, so the
overlay and the exports stay where the face is; the face images of the cached features stay on disk
and no scratch file is left behind."""

from __future__ import annotations

import cv2
import numpy as np
from helpers.videos import write_video

from annotator.processing.extraction import (
    ANALYSIS_SIDE,
    analyse_and_cache,
    landmarks_for_video,
    video_cache_dir,
)
from annotator.processing.video import iter_frames, open_video
from model.arrays import FrameImages

FRAMES = 20
ENLARGED = 3  # 640×360 → 1920×1080, larger than ANALYSIS_SIDE


def test_a_large_video_is_landmarked_in_its_own_pixels(tmp_path, single_face):
    frames = [frame.rgb for frame in iter_frames(single_face)][:FRAMES]
    small = write_video(tmp_path / "small.mp4", frames)
    large = write_video(tmp_path / "large.mp4", [
        cv2.resize(rgb, None, fx=ENLARGED, fy=ENLARGED, interpolation=cv2.INTER_CUBIC)
        for rgb in frames])
    assert open_video(large).width > ANALYSIS_SIDE

    seen_small, seen_large = landmarks_for_video(small), landmarks_for_video(large)

    assert seen_small.face.all() and seen_large.face.all()
    error = np.abs(seen_large.landmarks / ENLARGED - seen_small.landmarks)  # original pixels
    assert np.median(error) < 1.5
    boxes = seen_large.box / ENLARGED - seen_small.box
    assert np.median(np.abs(boxes)) < 6


def test_cached_features_keep_their_images_on_disk_and_leave_no_scratch(single_face):
    analysis = analyse_and_cache(single_face)
    features = analysis.features()
    assert isinstance(features.images, FrameImages)  # read from the cache when indexed
    assert np.asarray(features.images[features.face]).any()
    leftovers = list(video_cache_dir(single_face, "dlib").rglob(".*partial*"))
    assert leftovers == []
