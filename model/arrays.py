"""Arrays kept on disk and read a piece at a time, so memory does not grow with a video.

An hour of video is about 90,000 frames; its face images alone are 2.2 GB. They are written
row by row as they are computed and read back only as far as a step needs them:

- RowWriter appends rows to a .npy file whose length is not known in advance (the header is
  rewritten at the end); DiskArray reads any rows of a .npy file, mapping the file only for the
  read, so the pages read do not stay in the process's memory.
- Face images are stored for the frames that have a face only, in compressed blocks of
  BLOCK_ROWS rows inside a zip (a cache file stays the size the compressed .npz was);
  BlockArray reads them back a block at a time.
- FrameImages shows such face rows as an array over every frame of the video: rows of frames
  without a face are zeros, as the images of an in-memory VideoFeatures are.

Each of them answers `array[key]` for an int, a slice, an int or bool array (first axis), with
further indices after it, like a numpy array, and `len`, `shape`, `dtype`; `np.asarray(array)`
reads the whole array (small arrays and tests only).
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

BLOCK_ROWS = 256  # rows per compressed block: one prediction batch, about 6 MB of face images
_HEADER_BYTES = 256  # reserved .npy header, so the row count can be written in at the end


def _frame_indices(key, count: int) -> tuple[np.ndarray, tuple, bool]:
    """(indices into the first axis, the rest of the key, whether the first axis stays)."""
    rest: tuple = ()
    if isinstance(key, tuple):
        key, rest = key[0], key[1:]
    if isinstance(key, (int, np.integer)):
        index = int(key) + count if key < 0 else int(key)
        if not 0 <= index < count:
            raise IndexError(f"index {key} is out of bounds for {count} rows")
        return np.array([index]), rest, False
    if isinstance(key, slice):
        return np.arange(count)[key], rest, True
    key = np.asarray(key)
    if key.dtype == bool:
        if key.shape != (count,):
            raise IndexError(f"a mask of {key.shape} does not fit {count} rows")
        return np.flatnonzero(key), rest, True
    indices = key.astype(np.int64)
    indices = np.where(indices < 0, indices + count, indices)
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        raise IndexError(f"an index is out of bounds for {count} rows")
    return indices, rest, True


def _finish(rows: np.ndarray, rest: tuple, keep_axis: bool) -> np.ndarray:
    out = rows if keep_axis else rows[0]
    if not rest:
        return out
    return out[(slice(None), *rest)] if keep_axis else out[rest]


class _LazyRows:
    """What the lazy arrays share: numpy-like indexing over `_rows(indices)`."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key) -> np.ndarray:
        indices, rest, keep_axis = _frame_indices(key, len(self))
        return _finish(self._rows(indices), rest, keep_axis)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self._rows(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype)

    def chunks(self, size: int = BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) of consecutive pieces of at most `size` rows."""
        for start in range(0, len(self), size):
            yield start, self[start : start + size]

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# --- uncompressed rows in a .npy ---------------------------------------------------------


class DiskArray(_LazyRows):
    """A .npy file, or an uncompressed .npy member of a zip (an .npz written by np.savez), read
    a piece at a time: the whole array is never held."""

    def __init__(self, path: str | Path, member: str | None = None):
        self.path, self.member = Path(path), member
        with open(self.path, "rb") as stream:
            if member is not None:
                stream.seek(_member_data_offset(self.path, member))
            version = np.lib.format.read_magic(stream)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(stream)
            self.offset = stream.tell()
        if fortran or dtype.hasobject:
            raise ValueError(f"{self.path}: not a plain C-ordered array")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        expected = self.offset + int(np.prod(self.shape)) * self.dtype.itemsize
        if self.path.stat().st_size < expected:
            raise ValueError(f"{self.path}: truncated ({self.path.stat().st_size} of "
                             f"{expected} bytes)")

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        if len(indices) == 0 or 0 in self.shape:
            return np.empty((len(indices), *self.shape[1:]), self.dtype)
        # a mapping of just this read: its pages leave the process with it
        mapped = np.memmap(self.path, self.dtype, "r", self.offset, self.shape)
        low, high = int(indices.min()), int(indices.max()) + 1
        if high - low == len(indices) and np.all(np.diff(indices) == 1):
            return np.array(mapped[low:high])
        return np.array(mapped[indices])


def _member_data_offset(path: Path, member: str) -> int:
    """Where the bytes of an uncompressed zip member start in the file."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path}: {member} is compressed; it cannot be read in place")
    with open(path, "rb") as stream:
        stream.seek(info.header_offset)
        local = stream.read(30)  # the local file header: its name and extra field follow
    if local[:4] != b"PK\x03\x04":
        raise ValueError(f"{path}: damaged zip entry {member}")
    name_length = int.from_bytes(local[26:28], "little")
    extra_length = int.from_bytes(local[28:30], "little")
    return info.header_offset + 30 + name_length + extra_length


class RowWriter:
    """Appends rows of one shape and dtype to a .npy file; `close()` writes the final row
    count into the header and returns the file as a DiskArray."""

    def __init__(self, path: str | Path, row_shape: tuple[int, ...], dtype):
        self.path = Path(path)
        self.row_shape, self.dtype = tuple(row_shape), np.dtype(dtype)
        self.count = 0
        self.stream = open(self.path, "wb")
        self.stream.write(self._header())

    def append(self, rows: np.ndarray) -> None:
        """Add `rows` (N, *row_shape), or one row of row_shape."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape == self.row_shape:
            rows = rows[None]
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} do not fit {self.row_shape}")
        self.stream.write(rows.tobytes())
        self.count += len(rows)

    def close(self) -> DiskArray:
        self.stream.seek(0)
        self.stream.write(self._header())
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()
        return DiskArray(self.path)

    def discard(self) -> None:
        self.stream.close()
        self.path.unlink(missing_ok=True)

    def _header(self) -> bytes:
        return npy_header((self.count, *self.row_shape), self.dtype, _HEADER_BYTES)


# --- compressed blocks in a zip ----------------------------------------------------------


def write_blocks(archive: zipfile.ZipFile, name: str, rows) -> int:
    """Store `rows` (anything sliceable on its first axis) as compressed members
    name/000000.npy, name/000001.npy, ... of BLOCK_ROWS rows; returns the row count."""
    count = len(rows)
    for number, start in enumerate(range(0, count, BLOCK_ROWS)):
        block = np.asarray(rows[start : start + BLOCK_ROWS])
        write_member(archive, f"{name}/{number:06d}.npy", block)
    return count


def write_member(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """Store `array` as a compressed .npy member, compressed as it is written (never a second
    copy of it in memory)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = 1  # ZipInfo's level (public as compress_level from Python 3.13)
    with archive.open(info, "w", force_zip64=True) as stream:
        np.lib.format.write_array(stream, np.ascontiguousarray(array), allow_pickle=False)


def write_stored_member(archive: zipfile.ZipFile, name: str, rows) -> None:
    """Store `rows` (an array or a DiskArray) as an uncompressed .npy member, streamed a piece
    at a time, so DiskArray can read it in place later."""
    header = npy_header((len(rows), *rows.shape[1:]), rows.dtype)
    with archive.open(zipfile.ZipInfo(name), "w", force_zip64=True) as stream:
        stream.write(header)
        for start in range(0, len(rows), 4 * BLOCK_ROWS):
            stream.write(np.ascontiguousarray(rows[start : start + 4 * BLOCK_ROWS]).tobytes())


def npy_header(shape: tuple[int, ...], dtype, size: int | None = None) -> bytes:
    """The .npy (version 1.0) header of an array; padded to `size` bytes when given, else to a
    multiple of 64."""
    description = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                   "fortran_order": False, "shape": tuple(int(n) for n in shape)}
    text = repr(description).encode("latin1")
    total = size or -(-(10 + len(text) + 1) // 64) * 64
    padding = total - 10 - len(text) - 1
    if padding < 0 or total > 65535:
        raise ValueError(f"shape {shape} does not fit a .npy header of {total} bytes")
    return np.lib.format.magic(1, 0) + (total - 10).to_bytes(2, "little") + text + \
        b" " * padding + b"\n"


def read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name) as stream:  # read into the array a piece at a time
        return np.lib.format.read_array(stream, allow_pickle=False)


class BlockArray(_LazyRows):
    """Rows stored by write_blocks, read back a block at a time (the last block read is kept,
    so reading in order decompresses each block once)."""

    def __init__(self, path: str | Path, name: str, row_shape: tuple[int, ...], dtype,
                 count: int):
        self.path, self.name = Path(path), name
        self.shape, self.dtype = (int(count), *row_shape), np.dtype(dtype)
        self._block: tuple[int, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_block": None}

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.shape[1:]), self.dtype)
        if len(indices) == 0:
            return out
        blocks = indices // BLOCK_ROWS
        with zipfile.ZipFile(self.path) as archive:
            for block in np.unique(blocks):
                where = blocks == block
                out[where] = self._read_block(archive, int(block))[indices[where] % BLOCK_ROWS]
        return out

    def _read_block(self, archive: zipfile.ZipFile, block: int) -> np.ndarray:
        if self._block is None or self._block[0] != block:
            rows = read_member(archive, f"{self.name}/{block:06d}.npy")
            self._block = (block, rows)
        return self._block[1]


class FrameImages(_LazyRows):
    """(T, *row) rows over every frame of a video from the rows of its face frames only:
    `rows[i]` belongs to frame `frames[i]`; other frames read as zeros."""

    def __init__(self, rows, frames: np.ndarray, count: int):
        self.rows, self.frames = rows, np.asarray(frames, np.int64)
        if len(self.rows) != len(self.frames):
            raise ValueError(f"{len(self.rows)} face rows for {len(self.frames)} face frames")
        self.shape, self.dtype = (int(count), *rows.shape[1:]), np.dtype(rows.dtype)

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.zeros((len(indices), *self.shape[1:]), self.dtype)
        position = np.searchsorted(self.frames, indices)
        inside = position < len(self.frames)
        found = np.zeros(len(indices), bool)
        found[inside] = self.frames[position[inside]] == indices[inside]
        if found.any():
            out[found] = self.rows[position[found]]
        return out
