"""Faces into subjects: the tracker on the two-person clip's real faces, and both backends
finding the same two people."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers.videos import RIGHT_AWAY

from annotator.processing.extraction import analyse_video, face_identity, subjects_for_video
from annotator.processing.landmarks.dlib_backend import DlibBackend
from annotator.processing.landmarks.fan_backend import FanBackend, write_random_weights
from annotator.processing.landmarks.tracking import SubjectTracker
from annotator.processing.video import VideoSource, iter_frames


@pytest.fixture(scope="module")
def two_person(two_person_clip):
    return two_person_clip


@pytest.fixture(scope="module")
def frames_and_faces(two_person):
    """The clip's first 26 frames (both people there) and the faces dlib finds in each."""
    frames = [frame.rgb for frame in iter_frames(two_person)][: RIGHT_AWAY.start - 2]
    backend = DlibBackend()
    return frames, [backend.find_faces(rgb) for rgb in frames]


def _track(frames, faces) -> list[list[int]]:
    tracker = SubjectTracker(30.0, face_identity())
    return [tracker.add(rgb, found) for rgb, found in zip(frames, faces, strict=True)]


def _left_first(faces):
    return [sorted(found, key=lambda face: face.box[0]) for found in faces]


def test_each_person_keeps_one_track_from_frame_to_frame(frames_and_faces):
    frames, faces = frames_and_faces
    tracks = _track(frames, _left_first(faces))
    assert all(found == [0, 1] for found in tracks)


def test_a_face_hidden_for_a_few_frames_comes_back_to_its_track(frames_and_faces):
    frames, faces = frames_and_faces
    faces = _left_first(faces)
    hidden = [found[:1] if 5 <= index < 15 else found for index, found in enumerate(faces)]
    tracks = _track(frames, hidden)
    assert tracks[20] == [0, 1] and all(found == [0] for found in tracks[5:15])


def test_a_person_back_after_a_long_absence_is_known_by_who_they_are(frames_and_faces):
    frames, faces = frames_and_faces
    faces = _left_first(faces)
    # at 10 frames/s, 15 frames is longer than a brief occlusion: when the right person comes
    # back (and the left one has just gone), only their descriptors tell who is who
    away = [found if index == 0 else found[:1] if index < 15 else found[1:]
            for index, found in enumerate(faces)]
    tracker = SubjectTracker(10.0, face_identity())
    tracks = [tracker.add(rgb, found) for rgb, found in zip(frames, away, strict=True)]
    assert tracks[0] == [0, 1] and tracks[14] == [0] and tracks[15] == [1]
    assert len(tracker.tracks) == 2


def test_a_detection_on_a_couple_of_frames_is_not_a_subject(frames_and_faces):
    frames, faces = frames_and_faces
    faces = _left_first(faces)
    ghost = replace(faces[3][0], box=np.array([560, 10, 630, 80], np.float32))
    noisy = [found + [ghost] if index in (3, 4) else found for index, found in enumerate(faces)]
    tracker = SubjectTracker(30.0, face_identity())
    for rgb, found in zip(frames, noisy, strict=True):
        tracker.add(rgb, found)
    subjects, _ = tracker.subjects(np.arange(len(frames)) / 30)
    assert subjects.count == 2


@pytest.mark.slow  # FAN-4 with random weights runs at about 2 faces/s on CPU
def test_the_fan_backend_finds_the_same_two_subjects(two_person, tmp_path, monkeypatch):
    clip = tmp_path / "short.mp4"
    _first_frames(two_person, clip, 8)
    write_random_weights(tmp_path / "hub" / "checkpoints")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    fan = FanBackend(device="cpu", allow_download=False)
    fan.use_known_boxes(subjects_for_video(clip, "dlib"))
    with VideoSource(clip) as video:
        subjects, features = analyse_video(video, fan, scratch=tmp_path)
    assert subjects.count == 2 and len(features) == 2
    assert [subjects.frames_seen(n) for n in (1, 2)] == [8, 8]
    assert subjects.centre_x(1) < 320 < subjects.centre_x(2)


def _first_frames(source, target, count: int) -> None:
    from helpers.videos import write_video

    frames = [frame.rgb for frame in iter_frames(source)][:count]
    write_video(target, frames)
