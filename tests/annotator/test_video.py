"""Decoding: real frame counts, timestamps, rotation, and clear errors for bad files."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
from helpers.videos import faststart_copy, marker_frame, truncated_copy, write_video

from annotator.processing.system import return_free_memory
from annotator.processing.video import count_frames, iter_frames, open_video, prefetch_frames
from model.errors import InputError


def test_frame_count_is_what_decodes_not_what_the_container_claims(no_face):
    info = open_video(no_face)
    assert info.frame_count_claimed == 98
    assert count_frames(no_face) == 95


def test_clips_decode_to_their_real_lengths(single_face, demo_video):
    assert count_frames(single_face) == 72
    assert count_frames(demo_video) == 472


def test_metadata_of_the_demo_clip(demo_video):
    info = open_video(demo_video)
    assert (info.width, info.height, info.codec, info.rotation) == (640, 360, "h264", 0)
    assert info.fps == pytest.approx(23.976, abs=0.01)
    assert info.duration == pytest.approx(19.7, abs=0.1)


def test_frames_stream_in_order_with_increasing_times(single_face):
    frames = iter_frames(single_face)
    first = next(frames)
    assert first.index == 0 and first.rgb.shape == (360, 640, 3) and first.rgb.dtype == np.uint8
    previous = first
    for frame in frames:
        assert frame.index == previous.index + 1
        assert frame.time > previous.time
        previous = frame
    assert previous.time == pytest.approx(71 / 30, abs=1e-3)


def test_rotation_metadata_is_applied(tmp_path):
    path = write_video(tmp_path / "rotated.mp4", [marker_frame(64, 32)] * 3, rotation=90)
    info = open_video(path)
    assert (info.rotation, info.width, info.height) == (90, 32, 64)
    frame = next(iter_frames(path)).rgb
    assert frame.shape == (64, 32, 3)
    # rotated 90° counter-clockwise: the top-left marker is now bottom-left
    assert frame[-4:, :4].mean() > 200 and frame[:4, :4].mean() < 50


def test_variable_frame_rate_keeps_real_timestamps(tmp_path):
    times = [0.0, 0.033, 0.2, 0.233, 1.0]
    path = write_video(tmp_path / "vfr.mp4", [marker_frame(64, 32)] * 5, times=times)
    decoded = [frame.time for frame in iter_frames(path)]
    assert decoded == pytest.approx(times, abs=1e-3)


def test_truncated_video_with_index_first_is_refused(tmp_path, single_face):
    fast = faststart_copy(single_face, tmp_path / "fast.mp4")
    cut = truncated_copy(fast, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(InputError, match="truncated"):
        count_frames(cut)


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_video_with_index_last_is_refused(tmp_path, single_face, fraction):
    cut = truncated_copy(single_face, tmp_path / "cut.mp4", fraction)
    with pytest.raises(InputError, match="truncated or corrupt"):
        open_video(cut)


def test_text_file_named_mp4_is_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are my coding notes, not a video\n" * 20)
    with pytest.raises(InputError) as error:
        open_video(fake)
    assert str(fake) in str(error.value)


def test_empty_file_folder_and_missing_path_are_named(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    for path, problem in [(empty, "empty"), (tmp_path, "folder"), (tmp_path / "x.mp4", "no such")]:
        with pytest.raises(InputError, match=problem) as error:
            open_video(path)
        assert str(path) in str(error.value)


def test_frames_beyond_the_size_limit_are_refused_with_the_limit(tmp_path):
    wide = write_video(tmp_path / "wide.mp4", [np.zeros((64, 4112, 3), np.uint8)] * 2)
    with pytest.raises(InputError, match=r"4112×64 pixels are larger than the 4096") as error:
        open_video(wide)
    assert str(wide) in str(error.value) and "\n" not in str(error.value)


def test_a_video_longer_than_the_frame_limit_is_refused(monkeypatch, single_face):
    monkeypatch.setattr("annotator.processing.video.MAX_FRAMES", 50)
    with pytest.raises(InputError, match="more than the 50 accepted"):
        open_video(single_face)
    with pytest.raises(InputError, match="more than the 50 frames accepted"):
        list(iter_frames(single_face))


def test_large_frames_are_scaled_down_to_what_the_analysis_needs(tmp_path):
    big = write_video(tmp_path / "big.mp4", [marker_frame(2048, 1152)] * 3)
    frames = list(prefetch_frames(big, max_side=1280))
    assert [f.rgb.shape for f in frames] == [(720, 1280, 3)] * 3
    assert frames[0].scale == pytest.approx(0.625)
    small = next(iter_frames(big, max_side=4096))
    assert small.rgb.shape == (1152, 2048, 3) and small.scale == 1.0


def test_frames_are_ffmpegs_own_rgb_pictures_at_every_size(tmp_path, single_face, no_face):
    """The converter kept per thread gives the pixels PyAV's own conversion gives, frame by
    frame, whether the frames are kept whole, scaled down, or of another video in between."""
    moving = [np.roll(marker_frame(2048, 1152), 300 * i, axis=1) for i in range(3)]
    big = write_video(tmp_path / "big.mp4", moving)
    for path, max_side in ((single_face, None), (big, 1280), (no_face, 320), (single_face, 400)):
        with av.open(str(path)) as container:
            expected = []
            for frame in container.decode(video=0):
                size = {}
                if max_side and max(frame.width, frame.height) > max_side:
                    scale = max_side / max(frame.width, frame.height)
                    size = {"width": round(frame.width * scale),
                            "height": round(frame.height * scale), "interpolation": "AREA"}
                expected.append(frame.to_ndarray(format="rgb24", **size))
        decoded = [f.rgb for f in prefetch_frames(path, max_side=max_side)]
        assert len(decoded) == len(expected), path.name
        assert all(np.array_equal(a, b) for a, b in zip(decoded, expected, strict=True)), path.name


def test_two_threads_decoding_at_once_get_their_own_frames(single_face, no_face):
    """Each thread converts with its own converter: two videos of different sizes decoded at
    once come out as they do one at a time."""
    alone = {path: [f.rgb for f in iter_frames(path)] for path in (single_face, no_face)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = dict(zip(alone, pool.map(lambda p: [f.rgb for f in iter_frames(p)], alone),
                            strict=True))
    for path, frames in alone.items():
        assert all(np.array_equal(a, b) for a, b in zip(together[path], frames, strict=True))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_memory_freed_on_another_thread_goes_back_to_the_system():
    """Blocks the size of decoded frames, made on one thread and freed while small live ones
    sit between them (as frames and the objects around them do), stay in the process until
    return_free_memory hands them back."""

    def resident_mb() -> float:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def fragment() -> list[np.ndarray]:
        np.ones(700_000, np.uint8)  # freed at once: glibc keeps blocks this size from now on
        frames, kept = [], []
        for _ in range(150):
            frames.append(np.ones(700_000, np.uint8))
            kept.append(np.ones(4_000, np.uint8))
        frames.clear()
        return kept

    with ThreadPoolExecutor(max_workers=1) as pool:
        kept = pool.submit(fragment).result()
        before = resident_mb()
        assert return_free_memory()
        after = resident_mb()
    assert len(kept) == 150
    assert before - after > 50, f"{before:.0f} MB resident before, {after:.0f} MB after"
