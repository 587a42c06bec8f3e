"""Decoding in a background thread, so a second core decodes while the first finds faces.

PyAV releases the GIL while FFmpeg decodes; a small bounded queue keeps memory flat.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

from annotator.video import DecodedFrame, iter_frames

_DONE = object()


def prefetch_frames(path: str | Path, depth: int = 32) -> Iterator[DecodedFrame]:
    """Same frames as `iter_frames(path)`, decoded ahead in a worker thread."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def decode() -> None:
        try:
            for frame in iter_frames(path):
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
