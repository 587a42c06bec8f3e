"""The real clips' landmarks and features as plain data (model.features.VideoFeatures, arrays),
found once by the annotator's own pipeline (dlib landmarks, cached per video), so that the
model's tests (tests/model) take them as fixtures and import only `model`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.processing.extraction import features_for_video, landmarks_for_video
from annotator.processing.landmarks.dlib_backend import predictor_path
from helpers.videos import decoded_frames
from model.features import VideoFeatures


def clip_features(path: Path) -> VideoFeatures:
    """The network's features of the clip's most seen face, every decoded frame."""
    return features_for_video(path, "dlib")


def clip_landmarks(path: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(RGB frames, (T, 68, 2) dlib landmarks, (T,) face found) of the clip."""
    table = landmarks_for_video(path)
    return decoded_frames(path), table.landmarks, table.face


def dlib_shape_model() -> Path:
    """dlib's 68-point shape model file, the one the landmarks come from."""
    return predictor_path()
