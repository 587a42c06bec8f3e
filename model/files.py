"""Files written so a crash never leaves half of one behind (atomic writes, scratch files and
their clean-up), arrays saved as records, content hashes, and the video extensions we read."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
_HASH_CHUNK = 4 * 1024 * 1024
# Hash results are remembered per (path, size, mtime) so a 2 GB video is read once per process.
_hash_memo: dict[tuple[str, int, int], str] = {}


# --- atomic files ------------------------------------------------------------------------


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary file name beside `path` for any writer; when the block ends without
    error the file is flushed to disk and renamed onto `path`, otherwise it is removed.

    Readers see the old file or the new one, never half of one; the name is unique per call,
    so two processes writing the same target never share a temporary file. The suffix is kept
    (`.npz`, `.mp4`), so writers that choose a format by it still do.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_name(path, path.suffix)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        _sync_folder(path.parent)
    except OSError as error:
        if error.filename not in (None, temporary, str(temporary)):
            raise  # about another file the writer was reading
        # a full disk, a file-size limit: say which file could not be written
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    finally:
        temporary.unlink(missing_ok=True)


STALE_PARTIAL_S = 3600  # a temporary file this old was left by a writer that was killed


def partial_name(path: str | Path, suffix: str) -> Path:
    """A unique temporary name beside `path` ending in `suffix`, of the form
    remove_stale_partials cleans up after a killed writer."""
    path = Path(path)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.stem}.{token}.partial{suffix}")


@contextmanager
def scratch_file(path: str | Path, suffix: str) -> Iterator[Path]:
    """A unique temporary file name beside `path` for work on the way to writing it, removed
    when the block ends."""
    scratch = partial_name(path, suffix)
    try:
        yield scratch
    finally:
        scratch.unlink(missing_ok=True)


def remove_stale_partials(folder: str | Path, older_than_s: float = STALE_PARTIAL_S) -> int:
    """Delete temporary files and folders (atomic_path, scratch_file, scratch folders) left in
    `folder` when their writer was killed (older than `older_than_s`, so work in progress
    elsewhere is never touched); returns how many."""
    removed = 0
    cutoff = time.time() - older_than_s
    for leftover in Path(folder).glob(".*.partial*"):
        try:
            touched = leftover.stat().st_mtime
            if leftover.is_dir():  # written into, not renamed: its newest file counts
                touched = max([touched, *(f.stat().st_mtime for f in leftover.iterdir())])
            if touched >= cutoff:
                continue
            if leftover.is_dir():  # a scratch folder (annotator.pipeline)
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
            removed += 1
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def write_bytes_atomically(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomically(path: str | Path, text: str) -> Path:
    return write_bytes_atomically(path, text.encode("utf-8"))


def _sync_folder(folder: Path) -> None:
    # the rename itself is durable only once the folder's entry is on disk
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is still atomic
    finally:
        os.close(descriptor)


def save_arrays(path: str | Path, record, compress: bool = True) -> None:
    """Write the array fields of a dataclass `record` as one .npz, atomically."""
    save = np.savez_compressed if compress else np.savez
    with atomic_path(path) as temporary:
        save(temporary, **{f.name: getattr(record, f.name) for f in fields(record)})


def load_arrays(kind, path: str | Path):
    """The dataclass `kind` read back from what save_arrays wrote (never unpickles)."""
    with np.load(path, allow_pickle=False) as arrays:
        return kind(**{f.name: arrays[f.name] for f in fields(kind)})


def content_hash(path: str | Path) -> str:
    """SHA-256 of the file's bytes, as hex: a video's identity, whatever its name."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(_HASH_CHUNK):
                digest.update(chunk)
        _hash_memo[key] = digest.hexdigest()
    return _hash_memo[key]
