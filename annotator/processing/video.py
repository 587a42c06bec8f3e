"""Video decoding with PyAV: metadata, frames streamed in decode order with real timestamps,
decoding ahead in a thread, and random access to one frame for the viewer. A processing opens
its video once, as a VideoSource: path, stream info and content hash, and the frames.

Frame numbers are what decodes, never what the container claims (`no_face.mp4` claims 98 and
decodes 95). Rotation metadata is applied, so frames come out the way a player shows them.
Only a few frames are alive at a time, so memory stays flat however long the video is: a
frame larger than the analysis needs is scaled down by FFmpeg as it is converted to RGB
(`max_side`), before it is queued, and the queue ahead of the analysis is bounded in bytes.

Limits (a clear error names the file): frames at most MAX_SIDE pixels a side, and at most
MAX_FRAMES frames (about 4.6 hours at 30 frames/s).

Random access (FrameReader): a seek lands on a keyframe whose number is not known from the
container, so the reader takes the presentation times of all frames (the landmark table keeps
them, exactly as `iter_frames` produced them) and identifies the first frame after a seek by
its time. Stepping forward a little continues decoding without a seek; recently decoded frames
are kept in a small LRU, so stepping back one frame is instant too.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from annotator.processing.system import TRIM_EVERY, give_way, return_free_memory
from model.errors import InputError
from model.files import content_hash

log = logging.getLogger(__name__)

# A target this few frames ahead of the decoder is reached by decoding on, not by seeking.
FORWARD_WITHOUT_SEEK = 90
TIME_TOLERANCE_S = 1e-6
MAX_SIDE = 4096  # pixels: the longest frame side accepted (4K DCI is 4096 × 2160)
MAX_FRAMES = 500_000  # frames accepted in one video
PREFETCH_BYTES = 64 * 2**20  # decoded frames queued ahead of the analysis, at most
_DONE = object()


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
    scale: float = 1.0  # rgb pixels per pixel of the video (below 1 when scaled down)


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
        # a container's free-text metadata (title, encoder) may be in any encoding, or mangled;
        # it names nothing we need, so undecodable bytes become U+FFFD instead of an error
        container = av.open(str(path), metadata_errors="replace")
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
        return _video_info(path, container, stream, _first_frame(path, container, stream))


def _video_info(path: Path, container, stream, first: av.VideoFrame) -> VideoInfo:
    rotation = _rotation_of(first)
    width, height = first.width, first.height
    if rotation in (90, 270):
        width, height = height, width
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    duration = container.duration / av.time_base if container.duration else 0.0
    _check_limits(path, width, height, int(stream.frames or 0),
                  float(duration) * float(rate or 0))
    return VideoInfo(
        path=path, fps=float(rate) if rate else 0.0, width=width, height=height,
        duration=float(duration), codec=stream.codec_context.name, rotation=rotation,
        frame_count_claimed=int(stream.frames or 0),
    )


@dataclass(frozen=True)
class Playback:
    """What a browser needs to know to play the file itself (annotator.processing.proxy)."""

    container: str  # FFmpeg's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    video_codec: str  # canonical codec name, e.g. "h264"
    pixel_format: str  # e.g. "yuv420p"
    sound_codecs: tuple[str, ...]


def playback_of(container) -> Playback:
    video = container.streams.video[0].codec_context
    return Playback(container.format.name, video.codec.canonical_name, str(video.pix_fmt),
                    tuple(s.codec_context.codec.canonical_name for s in container.streams.audio))


class _Decoding:
    threads = 0  # FFmpeg's decoding threads for a stream; 0: as many as it sees fit


def share_decoding(threads: int) -> None:
    """Decode with at most `threads` threads: for a process that shares the cores with other
    workers (decoding threads of its own beside theirs only crowd the cores)."""
    _Decoding.threads = threads


# A video analysed as it decodes (VideoSource: its frames decoded ahead on a thread of their
# own) is decoded on that one thread when its frames are no larger than this: FFmpeg's frame
# threads took 0.67-0.77 ms of CPU a frame of the demo clip (640×360) against 0.53-0.55 on one
# thread (no_face.mp4, 960×540: 0.98 against 0.76), and one thread decodes them at 1,300-1,800
# frames/s, several times what the analysis takes. Larger frames keep FFmpeg's threads (one
# thread decodes 4K at a few hundred a second).
ONE_THREAD_PIXELS = 1280 * 720


def _threaded(stream: av.video.stream.VideoStream,
              sequential: bool = False) -> av.video.stream.VideoStream:
    """`stream` set to decode on FFmpeg's threads (frame threads: decoding overlaps with our
    own work), or, `sequential` and small frames, on the calling thread alone."""
    stream.thread_type = "AUTO"
    context = stream.codec_context
    small = 0 < context.width * context.height <= ONE_THREAD_PIXELS
    stream.thread_count = 1 if sequential and small else _Decoding.threads
    return stream


class VideoSource:
    """One video file as one processing sees it: its path, stream info, playback formats and
    content hash found once, and its container opened once. The first frame, decoded for the
    info, is the first frame `frames` gives, so a processing that analyses the video opens the
    file once (the browser's proxy aside). Use as a context manager, or `close()` it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._container = open_container(self.path)
        try:
            stream = _threaded(self._container.streams.video[0], sequential=True)
            self._stream = stream
            self._decoded = self._container.decode(stream)
            self._first = self._first_frame()
            self.info = _video_info(self.path, self._container, stream, self._first)
            self.playback = playback_of(self._container)
        except BaseException:
            self._container.close()
            raise
        self._digest: str | None = None

    def _first_frame(self) -> av.VideoFrame:
        try:
            return next(self._decoded)
        except StopIteration:
            raise InputError(self.path, "has a video stream but no frame decodes") from None
        except av.error.FFmpegError as error:
            raise InputError(self.path,
                             f"cannot decode the first frame ({_reason(error)})") from None

    @property
    def content_hash(self) -> str:
        """SHA-256 of the file's bytes (model.files.content_hash), read once."""
        if self._digest is None:
            self._digest = content_hash(self.path)
        return self._digest

    def frames(self, max_side: int | None = None) -> Iterator[DecodedFrame]:
        """The decoded frames, as `iter_frames(path, max_side)` gives them; once per source."""
        if self._first is None:
            raise RuntimeError(f"{self.path}: its frames were decoded already")
        first, self._first = self._first, None
        fallback_step = 1.0 / float(self._stream.average_rate or 25)
        rest = _decode(self.path, self._decoded, decoded=1)
        yield from _frames(self.path, _prepend(first, rest), max_side, fallback_step)

    def prefetched(self, depth: int = 32, max_side: int | None = None) -> Iterator[DecodedFrame]:
        """`frames(max_side)` decoded ahead in a worker thread (see prefetch_frames)."""
        scale = work_scale(self.info.width, self.info.height, max_side)
        frame_bytes = max(1, round(self.info.width * scale) * round(self.info.height * scale) * 3)
        return _ahead(self.frames(max_side), max(2, min(depth, PREFETCH_BYTES // frame_bytes)))

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def stream_frame_rate(path: str | Path) -> float | None:
    """The video stream's own frame rate (FFmpeg's r_frame_rate: the rate its frames are
    stamped at, what players step frames by), None when the container gives none. It can
    differ from VideoInfo.fps, the container's average rate: no_face.mp4's frames are 1/24 s
    apart, yet its average rate is 23.67 frames/s."""
    with open_container(Path(path)) as container:
        stream = container.streams.video[0]
        rate = stream.base_rate or stream.guessed_rate
        return float(rate) if rate else None


def _check_limits(path: Path, width: int, height: int, claimed: int, from_duration: float) -> None:
    if max(width, height) > MAX_SIDE:
        raise InputError(path, f"frames of {width}×{height} pixels are larger than the "
                               f"{MAX_SIDE} pixels a side accepted; scale the video down first")
    frames = max(claimed, int(from_duration))
    if frames > MAX_FRAMES:
        raise InputError(path, f"about {frames} frames, more than the {MAX_FRAMES} accepted "
                               "in one video; cut it into parts first")


def work_scale(width: int, height: int, max_side: int | None) -> float:
    """The factor frames of this size are scaled by to be at most `max_side` (≤ 1)."""
    longest = max(width, height)
    return 1.0 if max_side is None or longest <= max_side else max_side / longest


def _first_frame(path: Path, container, stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as error:
        raise InputError(path, f"cannot decode the first frame ({_reason(error)})") from None
    raise InputError(path, "has a video stream but no frame decodes")


def iter_frames(path: str | Path, max_side: int | None = None) -> Iterator[DecodedFrame]:
    """Decoded RGB frames in order; with `max_side`, frames whose longest side is larger are
    scaled down to it (DecodedFrame.scale says by how much). A decode error part-way raises
    InputError (truncated file); so does a frame or a frame count beyond the limits."""
    path = Path(path)
    container = open_container(path)
    try:
        stream = _threaded(container.streams.video[0])
        fallback_step = 1.0 / float(stream.average_rate or 25)
        yield from _frames(path, _decode(path, container.decode(stream)), max_side,
                           fallback_step)
    finally:
        container.close()


def _frames(path: Path, decoded: Iterator[av.VideoFrame], max_side: int | None,
            fallback_step: float) -> Iterator[DecodedFrame]:
    index = 0
    for frame in decoded:
        if index >= MAX_FRAMES:
            raise InputError(path, f"more than the {MAX_FRAMES} frames accepted in one "
                                   "video; cut it into parts first")
        if max(frame.width, frame.height) > MAX_SIDE:
            raise InputError(path, f"frame {index} is {frame.width}×{frame.height} "
                                   f"pixels, larger than the {MAX_SIDE} a side accepted")
        time = frame.time if frame.time is not None else index * fallback_step
        scale = work_scale(frame.width, frame.height, max_side)
        yield DecodedFrame(index, float(time), frame_to_rgb(frame, scale), scale)
        index += 1
    if index == 0:
        raise InputError(path, "has a video stream but no frame decodes")


def _decode(path: Path, frames: Iterator[av.VideoFrame],
            decoded: int = 0) -> Iterator[av.VideoFrame]:
    """`frames` (a container's decode iterator, `decoded` frames in), a decode error part-way
    raised as InputError."""
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


_converters = threading.local()


def frame_to_rgb(frame: av.VideoFrame, scale: float = 1.0) -> np.ndarray:
    """The frame as (height, width, 3) uint8 RGB, scaled by `scale` (FFmpeg scales while
    converting: the full-size RGB frame is never made). Each thread keeps one converter:
    `frame.to_ndarray` sets up a new one, with threads of its own, for every frame. Frames up
    to ONE_THREAD_PIXELS are converted on the calling thread alone: swscale's own threads,
    woken for every frame, took 0.44-0.45 ms of CPU a frame of the demo clip against
    0.23-0.28 without them, for the same pixels."""
    converter = getattr(_converters, "reformatter", None)
    if converter is None:
        converter = _converters.reformatter = VideoReformatter()
    size = {}
    if scale < 1.0:
        size = {"width": max(1, round(frame.width * scale)),
                "height": max(1, round(frame.height * scale)), "interpolation": "AREA"}
    threads = 1 if frame.width * frame.height <= ONE_THREAD_PIXELS else 0  # 0: one a core
    rgb = converter.reformat(frame, format="rgb24", threads=threads, **size).to_ndarray()
    quarter_turns = _rotation_of(frame) // 90
    if quarter_turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, quarter_turns))
    return rgb


def count_frames(path: str | Path) -> int:
    """Frames that actually decode (decoding is needed: containers misreport counts)."""
    path = Path(path)
    container = open_container(path)
    try:
        stream = _threaded(container.streams.video[0])
        return sum(1 for _ in _decode(path, container.decode(stream)))
    finally:
        container.close()


def prefetch_frames(path: str | Path, depth: int = 32,
                    max_side: int | None = None) -> Iterator[DecodedFrame]:
    """Same frames as `iter_frames(path, max_side)`, decoded ahead in a worker thread (PyAV
    releases the GIL while FFmpeg decodes, so a second core decodes while the first finds
    faces); the queue holds at most `depth` frames and PREFETCH_BYTES, so memory stays flat
    whatever the frame size."""
    with VideoSource(path) as source:
        yield from source.prefetched(depth, max_side)


def _ahead(frames: Iterator[DecodedFrame], depth: int) -> Iterator[DecodedFrame]:
    """`frames`, produced by a worker thread at most `depth` ahead of the consumer."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def decode() -> None:
        try:
            give_way()
            for frame in frames:
                if frame.index % TRIM_EVERY == TRIM_EVERY - 1:
                    return_free_memory()
                while not stop.is_set():
                    try:
                        buffer.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as error:  # handed to the consumer, who re-raises it
            buffer.put(error)

    worker = threading.Thread(target=decode, name="decode", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


class FrameReader:
    """frame(index) of one video; safe to share between threads (one decoder, one lock)."""

    def __init__(self, path: str | Path, timestamps: np.ndarray, cache_frames: int = 24):
        self.path = Path(path)
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        # seeking by time needs strictly increasing times; otherwise decode from the start
        self._seekable = bool(np.all(np.diff(self.timestamps) > 0))
        self._cache: OrderedDict[int, DecodedFrame] = OrderedDict()
        self._cache_frames = cache_frames
        self._lock = threading.Lock()
        self._container = None
        self._stream = None
        self._decoded = None  # iterator of av frames from the last seek
        self._next_index: int | None = None  # index of the frame `_decoded` yields next

    def __len__(self) -> int:
        return len(self.timestamps)

    def frame(self, index: int) -> DecodedFrame:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} outside 0..{len(self) - 1} of {self.path}")
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            ahead = None if self._next_index is None else index - self._next_index
            if ahead is None or not 0 <= ahead <= FORWARD_WITHOUT_SEEK:
                self._seek(index)
            return self._decode_until(index)

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container = self._decoded = self._next_index = None

    def _seek(self, index: int) -> None:
        if self._container is None:
            self._container = open_container(self.path)
            self._stream = self._container.streams.video[0]
        if self._seekable and index > 0:
            target = self.timestamps[index]
            pts = int(target / float(self._stream.time_base))
            self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
            self._decoded = self._container.decode(self._stream)
            first = self._next_frame()
            found = self._index_of(first)
            if found is not None and found <= index:
                self._decoded = _prepend(first, self._decoded)
                self._next_index = found
                return
            log.info("%s: seek to frame %d landed off the frame list; decoding from the start",
                     self.path, index)
        self._container.seek(0, stream=self._stream, backward=True, any_frame=False)
        self._decoded = self._container.decode(self._stream)
        self._next_index = 0

    def _index_of(self, frame: av.VideoFrame) -> int | None:
        if frame.time is None:
            return None
        position = int(np.searchsorted(self.timestamps, frame.time - TIME_TOLERANCE_S))
        if position < len(self) and abs(self.timestamps[position] - frame.time) <= TIME_TOLERANCE_S:
            return position
        return None

    def _decode_until(self, index: int) -> DecodedFrame:
        while True:
            frame = self._next_frame()
            current = self._next_index
            self._next_index += 1
            decoded = DecodedFrame(current, float(self.timestamps[current]), frame_to_rgb(frame))
            if index - current < self._cache_frames:
                self._remember(decoded)
            if current == index:
                return decoded

    def _next_frame(self) -> av.VideoFrame:
        try:
            return next(self._decoded)
        except StopIteration:
            self._next_index = None
            raise InputError(self.path, "ended before the frame the viewer asked for") from None
        except av.error.FFmpegError as error:
            self._next_index = None
            raise InputError(self.path, f"cannot decode ({error})") from None

    def _remember(self, frame: DecodedFrame) -> None:
        self._cache[frame.index] = frame
        self._cache.move_to_end(frame.index)
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)


def _prepend(first, rest):
    yield first
    yield from rest
