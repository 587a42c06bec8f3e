"""Keeping an uploaded video on the server: size limit, a stable file name, atomic write."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from annotator.errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_CHUNK = 8 * 1024 * 1024


def upload_limit_message(name: str, size: int, limit_mb: int) -> str | None:
    """Why an upload of `size` bytes is refused, or None when it fits the limit."""
    if size <= limit_mb * 1024 * 1024:
        return None
    return (
        f"{name}: {size / 1024**2:,.0f} MB is over the upload limit of {limit_mb:,} MB. "
        "Put large videos in the server folder (AU_ANNOTATOR_VIDEO_DIR, or `au-annotator app "
        "--videos DIR`) and open them from there: nothing is uploaded then."
    )


def save_upload(name: str, data: memoryview | bytes, folder: Path, limit_mb: int) -> Path:
    """Write an uploaded video to `folder/<content prefix>/<name>`; the same bytes uploaded
    twice land in the same file, and the video keeps its own name (label files use it)."""
    refused = upload_limit_message(name, len(data), limit_mb)
    if refused:
        raise InputError(name, refused.split(": ", 1)[1])
    safe_name = _UNSAFE.sub("_", Path(name).name).strip() or "video.mp4"
    digest = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        digest.update(view[start : start + _CHUNK])
    target = folder / digest.hexdigest()[:16] / safe_name
    if target.is_file() and target.stat().st_size == len(view):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as stream:
        for start in range(0, len(view), _CHUNK):
            stream.write(view[start : start + _CHUNK])
    partial.replace(target)
    return target
