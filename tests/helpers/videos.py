"""Small videos written by tests with PyAV: rotated, variable frame rate, damaged copies, and
two people side by side made from the real clips (tests/conftest.py's `two_person_clip` builds
that one once per test session)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as (H, W, 3) RGB, decoded by PyAV alone."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def marker_frame(width: int, height: int) -> np.ndarray:
    """Black frame with a white square in the top-left corner (shows orientation)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 4, : width // 4] = 255
    return rgb


def write_video(path: Path, frames: list[np.ndarray], times: list[float] | None = None,
                rotation: int = 0) -> Path:
    """mpeg4 video; `times` (seconds) gives each frame's presentation time (VFR)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = round((times[index] if times else index / 30) * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def faststart_copy(source: Path, target: Path) -> Path:
    """Remux with the index first, as streaming-friendly MP4s are written."""
    with av.open(str(source)) as src, av.open(
        str(target), "w", options={"movflags": "faststart"}
    ) as dst:
        video_in = src.streams.video[0]
        video_out = dst.add_stream_from_template(video_in)
        for packet in src.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            dst.mux(packet)
    return target


def truncated_copy(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


# The two-person clip (two_person_video): 96 frames at 30 fps, 640×360.
TWO_PERSON_FRAMES = 96
RIGHT_AWAY = range(28, 66)  # frames the right person is out of the picture (1.3 s)
LEFT_SMILE_FROM = 21  # the left person's broad smile starts here (neutral until frame 15)


def two_person_video(path: Path, single_face: Path, demo: Path) -> Path:
    """Two people side by side, each with its own expression timing, as H.264 (browsers play
    it). Left: `single_face` (neutral, then a broad smile from LEFT_SMILE_FROM; played back
    from its end after its 72 frames); right: the first 57 frames of `demo` (crying, mouth
    corners down: no smile) spread over the clip, shrunk to 3/4. The right person leaves the
    picture (black) for RIGHT_AWAY, longer than a brief occlusion, and comes back."""
    left = [rgb[:, 130:450] for rgb in decoded_frames(single_face)]
    right = [cv2.resize(rgb, None, fx=0.75, fy=0.75)[:, 160:480]
             for rgb in decoded_frames(demo)[:57]]
    frames = []
    for index in range(TWO_PERSON_FRAMES):
        canvas = np.zeros((360, 640, 3), np.uint8)
        canvas[:, :320] = left[index if index < len(left) else 2 * len(left) - 1 - index]
        if index not in RIGHT_AWAY:
            face = right[round(index * (len(right) - 1) / (TWO_PERSON_FRAMES - 1))]
            canvas[45 : 45 + face.shape[0], 320:] = face
        frames.append(canvas)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path
