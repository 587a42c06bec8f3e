"""The per-video cache: features are kept per video and config, and a damaged cache file
(truncated by a crash, overwritten, from an older version) is recomputed, never fatal, and
the video processes as before."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from annotator.processing.extraction import (
    descriptors_path,
    features_for_video,
    features_path,
    landmark_cache_path,
    landmarks_for_video,
    subjects_for_video,
    video_cache_dir,
)
from annotator.processing.landmarks import LandmarkTable
from annotator.processing.prediction import process_video
from annotator.services import Services
from model.features import FeatureConfig


def test_truncated_and_corrupt_cache_files_are_rebuilt(tmp_path, single_face, monkeypatch,
                                                      caplog):
    monkeypatch.setenv("AU_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    first = process_video(single_face, Services.open(url))
    landmarks = landmark_cache_path(single_face, "dlib")
    expected = landmarks_for_video(single_face).landmarks.copy()
    landmarks.write_bytes(landmarks.read_bytes()[: landmarks.stat().st_size // 2])  # truncated
    features_path(single_face, "dlib", FeatureConfig()).write_bytes(b"not an npz at all")
    descriptors_path(single_face, "dlib", FeatureConfig()).write_bytes(b"")

    with caplog.at_level(logging.WARNING):
        again = process_video(single_face, Services.open(url))

    assert (again.frames, again.frames_with_face) == (first.frames, first.frames_with_face)
    assert sum("recomputing" in record.message for record in caplog.records) >= 1
    assert np.allclose(landmarks_for_video(single_face).landmarks, expected, equal_nan=True)


def test_landmarks_cached_before_subjects_were_tracked_are_subject_one(tmp_path, single_face,
                                                                       monkeypatch):
    followed = landmarks_for_video(single_face)  # the test run's own cache
    monkeypatch.setenv("AU_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    marked = LandmarkTable(followed.face, followed.box, followed.score,
                           followed.landmarks + 1.0, followed.timestamps)
    older = video_cache_dir(single_face, "dlib") / "landmarks.npz"  # the file's old name
    older.parent.mkdir(parents=True)
    marked.save(older)
    subjects = subjects_for_video(single_face)
    assert subjects.count == 1  # read, not tracked again
    assert np.allclose(subjects.subject(1).landmarks, marked.landmarks, equal_nan=True)


def test_features_are_cached_per_video_and_config(tmp_path, monkeypatch, single_face):
    # This test plants a doctored features file, so it uses a cache of its own.
    monkeypatch.setenv("AU_ANNOTATOR_CACHE", str(tmp_path))
    features = features_for_video(single_face)
    cached = features_path(single_face, "dlib", FeatureConfig())
    assert cached.is_file()
    # A cache file that differs from what a recomputation would give:
    replace(features, images=np.full_like(features.images, 7)).save(cached)
    assert (np.asarray(features_for_video(single_face).images) == 7).all()
    other = FeatureConfig(canny_low=20)
    assert features_path(single_face, "dlib", other) != cached
    assert np.asarray(features_for_video(single_face, config=other).images).max() == 255
