"""Small videos written by tests with PyAV: rotated, variable frame rate, damaged copies."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


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
