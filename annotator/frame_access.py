"""Random access to decoded frames, for the frame viewer: seek, then decode forward.

`iter_frames` numbers frames by decode order; a seek lands on a keyframe whose number is not
known from the container. The reader therefore takes the presentation times of all frames (the
landmark table keeps them, exactly as `iter_frames` produced them) and identifies the first
frame after a seek by its time. Stepping forward a little continues decoding without a seek;
recently decoded frames are kept in a small LRU, so stepping back one frame is instant too.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

import av
import numpy as np

from annotator.errors import InputError
from annotator.video import DecodedFrame, frame_to_rgb, open_container

log = logging.getLogger(__name__)

# A target this few frames ahead of the decoder is reached by decoding on, not by seeking.
FORWARD_WITHOUT_SEEK = 90
TIME_TOLERANCE_S = 1e-6


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
