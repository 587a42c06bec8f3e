"""Video decoding with PyAV: frames streamed in decode order with real timestamps.

Frame numbers are what decodes, never what the container claims (`no_face.mp4` claims 98 and
decodes 95). Rotation metadata is applied, so frames come out the way a player shows them.
Only one frame is alive at a time, so memory stays flat however long the video is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from annotator.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float  # average frame rate; timestamps stay exact for variable frame rate
    width: int  # as displayed (after rotation)
    height: int
    duration: float  # seconds, from the container (0 when unknown)
    codec: str
    rotation: int  # degrees counter-clockwise applied to decoded frames: 0, 90, 180, 270
    frame_count_claimed: int  # what the container says; may be wrong or 0


@dataclass(frozen=True)
class DecodedFrame:
    index: int  # 0-based, decode order; label-file line j is index j - 1
    time: float  # presentation time in seconds
    rgb: np.ndarray  # (H, W, 3) uint8, rotation applied


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not a video file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes), not a video")


def open_container(path: Path):
    _check_path(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise InputError(
            path, f"not a readable video, or truncated or corrupt ({_reason(error)})"
        ) from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "not a video: no video stream found")
    _check_complete(path, container.streams.video[0], container)
    return container


def _check_complete(path: Path, stream, container) -> None:
    # A cut-off MP4/MOV still opens when its index comes first; the index then points past
    # the end of the file. (Threaded decoding would otherwise just stop early, silently.)
    entries = stream.index_entries
    if not entries:
        return
    needed = max(entry.pos + entry.size for entry in entries)
    size = path.stat().st_size
    if needed > size:
        container.close()
        raise InputError(
            path, f"truncated video: {size} bytes, but its index needs {needed} bytes"
        )


def _reason(error: Exception) -> str:
    # FFmpeg messages end with the file name we already print; keep the part that explains.
    text = getattr(error, "strerror", None) or str(error)
    return text.split(":")[0].strip().lower() or error.__class__.__name__


def _rotation_of(frame: av.VideoFrame) -> int:
    # The display matrix angle is counter-clockwise; players rotate by it to show the frame.
    return int(round(frame.rotation / 90.0)) % 4 * 90


def open_video(path: str | Path) -> VideoInfo:
    """Metadata of a video, reading only up to its first frame."""
    path = Path(path)
    with open_container(path) as container:
        stream = container.streams.video[0]
        first = _first_frame(path, container, stream)
        rotation = _rotation_of(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = container.duration / av.time_base if container.duration else 0.0
        return VideoInfo(
            path=path, fps=float(rate) if rate else 0.0, width=width, height=height,
            duration=float(duration), codec=stream.codec_context.name, rotation=rotation,
            frame_count_claimed=int(stream.frames or 0),
        )


def _first_frame(path: Path, container, stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as error:
        raise InputError(path, f"cannot decode the first frame ({_reason(error)})") from None
    raise InputError(path, "has a video stream but no frame decodes")


def iter_frames(path: str | Path) -> Iterator[DecodedFrame]:
    """Decoded RGB frames in order. A decode error part-way raises InputError (truncated file)."""
    path = Path(path)
    container = open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: decoding overlaps with our own work
        index = 0
        fallback_step = 1.0 / float(stream.average_rate or 25)
        for frame in _decode(path, container, stream):
            time = frame.time if frame.time is not None else index * fallback_step
            yield DecodedFrame(index, float(time), frame_to_rgb(frame))
            index += 1
        if index == 0:
            raise InputError(path, "has a video stream but no frame decodes")
    finally:
        container.close()


def _decode(path: Path, container, stream) -> Iterator[av.VideoFrame]:
    frames = container.decode(stream)
    decoded = 0
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.error.FFmpegError as error:
            raise InputError(
                path, f"truncated or corrupt after frame {decoded} ({_reason(error)})"
            ) from None
        decoded += 1
        yield frame


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = _rotation_of(frame) // 90
    if quarter_turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, quarter_turns))
    return rgb


def count_frames(path: str | Path) -> int:
    """Frames that actually decode (decoding is needed: containers misreport counts)."""
    path = Path(path)
    container = open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in _decode(path, container, stream))
    finally:
        container.close()
