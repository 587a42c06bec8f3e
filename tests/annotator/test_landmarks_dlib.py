"""dlib landmarks on real clips: the contract, coverage, tracking and subject following."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from annotator.processing.extraction import landmark_cache_path, landmarks_for_video
from annotator.processing.landmarks import dlib_backend
from annotator.processing.landmarks.dlib_backend import DlibBackend
from annotator.processing.system import give_way
from annotator.processing.video import iter_frames


def test_single_face_has_68_landmarks_on_nearly_every_frame(single_face):
    table = landmarks_for_video(single_face, "dlib")
    assert len(table) == 72
    assert table.face.sum() >= 70
    assert table.landmarks.shape == (72, 68, 2)
    found = table.landmarks[table.face]
    assert np.isfinite(found).all()
    # landmarks lie inside the frame and inside (roughly) their face box
    assert (found[..., 0] >= 0).all() and (found[..., 0] < 640).all()
    boxes = table.box[table.face]
    centres = found.mean(axis=1)
    assert ((centres[:, 0] > boxes[:, 0]) & (centres[:, 0] < boxes[:, 2])).all()


def test_demo_clip_has_a_face_on_at_least_95_percent(demo_video):
    table = landmarks_for_video(demo_video, "dlib")
    assert len(table) == 472
    assert table.face.mean() >= 0.95


def test_no_face_clip_keeps_every_frame_without_a_face(no_face):
    table = landmarks_for_video(no_face, "dlib")
    assert len(table) == 95 and not table.face.any()
    assert np.isnan(table.landmarks).all()
    assert np.all(np.diff(table.timestamps) > 0)


def test_tracking_agrees_with_detecting_every_frame(single_face):
    frames = [frame.rgb for frame in iter_frames(single_face)][:40]
    tracked = list(DlibBackend(detect_every=30).track(frames))
    detected = list(DlibBackend(detect_every=0).track(frames))
    both = [(a[0], b[0]) for a, b in zip(tracked, detected, strict=True)
            if len(a) == 1 and len(b) == 1]
    assert len(both) >= 38
    distance = np.mean([np.linalg.norm(a.landmarks - b.landmarks, axis=1).mean() for a, b in both])
    assert distance < 3.0


def two_people(frame: np.ndarray, left_scale: float, right_scale: float) -> np.ndarray:
    """A 1280×360 frame: the clip's face scaled on the left half and on the right half
    (scale 0: nobody there)."""
    import cv2

    height, width = frame.shape[:2]
    canvas = np.zeros((height, width * 2, 3), np.uint8)
    for x0, scale in ((0, left_scale), (width, right_scale)):
        if scale == 0:
            continue
        scaled = cv2.resize(frame, None, fx=scale, fy=scale)
        canvas[: scaled.shape[0], x0 : x0 + scaled.shape[1]] = scaled
    return canvas


def test_every_face_of_a_frame_is_found_with_its_own_landmarks(single_face):
    frame = next(iter_frames(single_face)).rgb
    backend = DlibBackend(detect_width=1280)
    for _ in range(3):  # the full search, then the windows around each face
        faces = sorted(backend.find_faces(two_people(frame, 0.9, 1.0)), key=lambda f: f.box[0])
        assert len(faces) == 2
        left, right = faces
        assert left.box[2] < 640 < right.box[0]
        assert (left.landmarks[:, 0] < 640).all() and (right.landmarks[:, 0] > 640).all()


def test_a_face_that_comes_into_the_picture_is_found_within_a_third_of_a_second(single_face):
    frame = next(iter_frames(single_face)).rgb
    backend = DlibBackend(detect_every=30, detect_width=1280)
    assert len(backend.find_faces(two_people(frame, 0.9, 0.9))) == 2
    assert len(backend.find_faces(two_people(frame, 0.9, 0))) == 1  # one left
    counts = [len(backend.find_faces(two_people(frame, 0.9, 0.9))) for _ in range(10)]
    assert counts[-1] == 2  # back: found at the next full search, ten frames on at most


def test_a_face_coming_into_an_empty_picture_is_found_by_the_searched_frame(single_face):
    frame = next(iter_frames(single_face)).rgb
    backend = DlibBackend(empty_every=3)
    assert backend.find_faces(np.zeros_like(frame)) == []  # searched: nobody
    counts = [len(backend.find_faces(frame)) for _ in range(3)]
    assert counts == [0, 0, 1]  # frame by frame, two frames are not searched, the third is


def test_a_face_coming_into_an_empty_picture_is_followed_from_its_first_frame(single_face):
    frames = [frame.rgb for frame in iter_frames(single_face)][:12]
    empty = np.zeros_like(frames[0])
    for first in range(1, 9):  # the face comes in at each frame of the skipped stretch
        video = [empty] * first + frames[:12 - first]
        found = list(DlibBackend(empty_every=8).track(video))
        assert len(found) == 12
        assert [len(faces) for faces in found] == [0] * first + [1] * (12 - first), first
        # searched back in windows, as tracking searches: about where a full search puts it
        alone = DlibBackend().find_faces(video[first])[0]
        assert np.linalg.norm(found[first][0].landmarks - alone.landmarks, axis=1).mean() < 3.0


def test_frames_left_unsearched_at_the_end_of_a_video_have_no_face(single_face):
    frame = next(iter_frames(single_face)).rgb
    found = list(DlibBackend(empty_every=8).track([np.zeros_like(frame)] * 5))
    assert found == [[]] * 5


def test_full_searches_made_early_find_what_searching_on_the_spot_finds(single_face,
                                                                     monkeypatch):
    """The full searches due within the frames read ahead are made on a thread of their own
    before the chain of searches gets there; the faces are the ones found when every search is
    made on the spot, through a face, a cut (the face jumps: its window loses it, and the full
    search comes early), an empty stretch and the face coming back."""
    frames = [frame.rgb for frame in iter_frames(single_face)]
    frames += frames[::-1]  # 144 frames of a face: full searches due at 31, 62, 93, 124
    video = (frames + [np.roll(f, 200, axis=1) for f in frames[:20]]
             + [np.zeros_like(frames[0])] * 20 + frames[:40])
    searched_on = []
    search_full = DlibBackend._search_full

    def recorded(self, gray, detector=None):
        searched_on.append(threading.current_thread().name)
        return search_full(self, gray, detector)

    monkeypatch.setattr(DlibBackend, "_search_full", recorded)
    early = list(DlibBackend().track(video))
    early_threads, searched_on[:] = list(searched_on), []
    monkeypatch.setattr(dlib_backend, "READ_AHEAD", 0)
    on_the_spot = list(DlibBackend().track(video))
    assert all(name == "MainThread" for name in searched_on)
    assert sum(name.startswith("full-search") for name in early_threads) >= 4
    assert [len(faces) for faces in early] == [len(faces) for faces in on_the_spot]
    assert sum(map(len, early)) > 190
    for one, other in zip(early, on_the_spot, strict=True):
        for a, b in zip(one, other, strict=True):
            assert np.array_equal(a.box, b.box) and a.score == b.score
            assert np.array_equal(a.landmarks, b.landmarks)


def test_helper_threads_do_not_preempt_the_search(single_face):
    """Decoding, gray pictures and early searches run in SCHED_BATCH: a helper waking up no
    longer takes the core from the chain of face searches."""
    with ThreadPoolExecutor(max_workers=1) as probe:
        if not probe.submit(give_way).result():
            pytest.skip("this system has no SCHED_BATCH, or refuses it to this process")
    policies = {}

    class Spy(DlibBackend):
        def _search_full(self, gray, detector=None):
            policies[threading.current_thread().name] = os.sched_getscheduler(0)
            return super()._search_full(gray, detector)

    frames = (frame.rgb for frame in iter_frames(single_face))
    assert sum(map(len, Spy().track(frames))) > 60
    assert policies.pop("MainThread", os.SCHED_OTHER) == os.SCHED_OTHER
    assert policies and set(policies.values()) == {os.SCHED_BATCH}
    gray_thread = dlib_backend._gray_pool().submit(os.sched_getscheduler, 0).result()
    assert gray_thread == os.SCHED_BATCH


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_process_forked_after_an_analysis_analyses_too(single_face):
    """A child forked from a process whose helper threads have started (a tool that forks
    workers after a first video) makes its own: a backend and an analysis there finish instead
    of waiting on threads that the fork did not copy."""
    from annotator.processing import extraction
    from annotator.processing.extraction import analyse_video, make_backend
    from annotator.processing.video import VideoSource

    pools = (dlib_backend._gray_pool, dlib_backend._full_search_pool, extraction._pool,
             extraction._writer_pool, extraction._expression_pool)
    for pool in pools:
        pool().submit(int).result()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            for pool in pools:
                pool().submit(int).result(timeout=30)
            with VideoSource(single_face) as source, tempfile.TemporaryDirectory() as scratch:
                subjects, _ = analyse_video(source, make_backend("dlib"), scratch=Path(scratch))
            code = 0 if subjects.face.sum() > 60 else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120
    while (done := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    if done[0] == 0:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the forked child was still waiting after 120 s")
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_process_caches_landmarks_and_reuses_them(single_face):
    command = [sys.executable, "-m", "annotator.cli", "process", str(single_face)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    cached = landmark_cache_path(single_face, "dlib")
    stamp = cached.stat().st_mtime_ns
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0
    assert cached.stat().st_mtime_ns == stamp
    assert "72 frames, face in" in second.stdout


def test_process_on_a_video_without_faces_says_so_and_succeeds(no_face):
    result = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "process", str(no_face)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0
    assert "no face found in any of the 95 frames" in result.stderr
