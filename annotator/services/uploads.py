"""Videos coders upload through the page: kept in the uploads folder under their own name, or
refused with a message that names the file as the coder chose it (never the server's path,
which means nothing to them), and then deleted, so a refused file takes no room.

An upload lands in `<uploads>/<content prefix>/<name>`: the same bytes uploaded twice land in
the same file, and the video keeps its own name (label files are matched by it). It is refused
when it is over the size limit (before anything is written), when it is not a video that opens
(checked at once, reading up to its first frame), and when processing it finds it unreadable
further on (annotator.jobs.start_processing deletes it then).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from annotator.processing.video import open_video
from model.errors import InputError
from model.files import atomic_path, remove_stale_partials

logger = logging.getLogger(__name__)

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
    """Write an uploaded video to `folder/<content prefix>/<name>` and check that it opens as a
    video; a refused upload raises InputError naming `name` and leaves nothing behind."""
    refused = upload_limit_message(name, len(data), limit_mb)
    if refused:
        raise InputError(name, refused.split(": ", 1)[1])
    target = _write(name, memoryview(data), folder)
    try:
        open_video(target)
    except InputError as error:
        discard_upload(target)
        raise InputError(name, error.problem) from None
    return target


def discard_upload(path: Path) -> None:
    """Delete a refused upload, and its content folder when nothing else is in it."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # another file of the same content (under another name) is kept there
        pass
    logger.info("deleted the refused upload %s", path)


def _write(name: str, view: memoryview, folder: Path) -> Path:
    safe_name = _UNSAFE.sub("_", Path(name).name).strip() or "video.mp4"
    digest = hashlib.sha256()
    for start in range(0, len(view), _CHUNK):
        digest.update(view[start : start + _CHUNK])
    target = folder / digest.hexdigest()[:16] / safe_name
    if target.is_file() and target.stat().st_size == len(view):
        return target
    if target.parent.is_dir():
        remove_stale_partials(target.parent)  # an upload cut off by a killed server
    with atomic_path(target) as temporary, open(temporary, "wb") as stream:
        for start in range(0, len(view), _CHUNK):
            stream.write(view[start : start + _CHUNK])
    return target
