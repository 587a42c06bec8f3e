"""The proxy: a video browsers cannot decode gets an H.264 copy with exactly the frames and
presentation times PyAV decodes from the original; a video browsers play is served as it is."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from helpers.videos import marker_frame, write_video

from annotator.processing import extraction, prediction
from annotator.processing.proxy import (
    PROXY_NAME,
    browser_plays,
    make_proxy,
    mime_type,
    playable_video,
)
from annotator.processing.video import iter_frames
from annotator.services import Services

COMPRESSION_TOLERANCE = 4  # mean absolute difference of 0–255 pixel values


@pytest.fixture(scope="module")
def hevc_mov(single_face):
    return single_face.with_name("single_face_hevc.mov")


def frames_and_times(path) -> tuple[list[np.ndarray], np.ndarray]:
    decoded = list(iter_frames(path))
    return [frame.rgb for frame in decoded], np.array([frame.time for frame in decoded])


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b[: a.shape[0], : a.shape[1]]).mean())


def test_browsers_play_h264_mp4_as_it_is(demo_video, tmp_path):
    assert browser_plays(demo_video)
    assert mime_type(demo_video) == "video/mp4"
    assert playable_video(demo_video, tmp_path) == demo_video
    assert not (tmp_path / PROXY_NAME).exists()


def test_an_hevc_mov_gets_an_h264_proxy_with_the_same_frames_times_and_sound(hevc_mov,
                                                                             tmp_path):
    assert not browser_plays(hevc_mov)
    proxy = playable_video(hevc_mov, tmp_path)
    assert proxy == tmp_path / PROXY_NAME and browser_plays(proxy)
    original, original_times = frames_and_times(hevc_mov)
    copied, copied_times = frames_and_times(proxy)
    assert len(copied) == len(original) == 72
    assert np.array_equal(copied_times, original_times)
    assert max(map(mean_difference, original, copied)) < COMPRESSION_TOLERANCE
    with av.open(str(proxy)) as container:
        assert container.streams.video[0].codec_context.codec.canonical_name == "h264"
        sound = container.streams.audio[0]
        assert sound.codec_context.codec.canonical_name == "aac"
        assert float(sound.duration * sound.time_base) == pytest.approx(2.42, abs=0.05)


def test_a_rotated_variable_rate_odd_sized_mpeg4_keeps_orientation_and_times(tmp_path):
    times = [0.0, 0.03, 0.1, 0.12, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5]
    frames = [marker_frame(161, 91) for _ in times]
    for index, rgb in enumerate(frames):
        rgb[-10:, : 16 * index] = 128  # a growing grey bar tells the frames apart
    source = write_video(tmp_path / "rotated.mp4", frames, times, rotation=90)
    assert not browser_plays(source)  # MPEG-4 Part 2: no browser decodes it
    proxy = make_proxy(source, tmp_path / PROXY_NAME)
    original, original_times = frames_and_times(source)
    copied, copied_times = frames_and_times(proxy)
    assert np.array_equal(copied_times, original_times)
    assert original[0].shape == (161, 91, 3)  # upright as decoded: 91 wide, 161 high
    assert copied[0].shape == (162, 92, 3)  # H.264 needs even sides: one row, one column more
    assert max(map(mean_difference, original, copied)) < COMPRESSION_TOLERANCE


def test_processing_makes_the_proxy_once_beside_the_features(hevc_mov, tmp_path):
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    prediction.process_video(hevc_mov, Services.open(url))
    proxy = extraction.video_cache_dir(hevc_mov, "dlib") / PROXY_NAME
    made = os.stat(proxy).st_mtime_ns
    prediction.process_video(hevc_mov, Services.open(url))  # processing again finds it made
    assert playable_video(hevc_mov, proxy.parent) == proxy
    assert os.stat(proxy).st_mtime_ns == made
