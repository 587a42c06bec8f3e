"""Per-video cache folders, keyed by the video's content hash and the landmark backend.

Re-opening a video (even renamed or moved) finds its landmarks and features again; a changed
file gets a new hash and so never reuses stale results. `AU_ANNOTATOR_CACHE` moves the cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

_CHUNK = 4 * 1024 * 1024
# Hash results are remembered per (path, size, mtime) so a 2 GB video is read once per process.
_hash_memo: dict[tuple[str, int, int], str] = {}


def cache_root() -> Path:
    override = os.environ.get("AU_ANNOTATOR_CACHE")
    return Path(override) if override else Path(platformdirs.user_cache_dir("au-annotator"))


def content_hash(path: str | Path) -> str:
    """SHA-256 of the file's bytes, as hex."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        _hash_memo[key] = digest.hexdigest()
    return _hash_memo[key]


def video_cache_dir(video_hash: str, backend: str) -> Path:
    """Folder for everything derived from one video with one landmark backend."""
    return cache_root() / video_hash[:32] / backend
