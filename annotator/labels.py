"""Aff-Wild2 AU label files: reading, writing, and matching them to videos.

A label file is a header naming the AUs (`AU1,AU2,...`) followed by one line per decoded frame
(line j after the header is frame j, 1-based) with one integer per AU: 1 present, 0 absent,
-1 not annotated. Prediction files use the same layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.errors import InputError
from model.constants import AU_SETS, au_names, au_set_for_header

# Aff-Wild2 names one label file per person: `<video>.txt`, or `<video>_left.txt` and
# `<video>_right.txt` when two people share one video file.
_SIDE_SUFFIX = re.compile(r"_(left|right)$")
_VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@dataclass(frozen=True)
class LabelFile:
    path: Path
    au_set: str
    labels: np.ndarray  # (T, K) int8, values in {-1, 0, 1}

    @property
    def aus(self) -> tuple[str, ...]:
        return au_names(self.au_set)


def read_label_file(path: str | Path, au_set: str | None = None) -> LabelFile:
    """Parse one label file; any problem raises InputError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read label file ({error.__class__.__name__})") from None
    lines = text.splitlines()
    if not lines:
        raise InputError(path, "empty label file (expected a header like AU1,AU2,...)")
    header = tuple(name.strip() for name in lines[0].split(","))
    found_set = au_set_for_header(header)
    if found_set is None:
        expected = " or ".join(",".join(aus) for aus in AU_SETS.values())
        raise InputError(path, f"line 1: header {lines[0]!r} is not an AU header ({expected})")
    if au_set is not None and found_set != au_set:
        raise InputError(path, f"line 1: file holds AU set {found_set}, expected {au_set}")
    return LabelFile(path, found_set, _parse_rows(path, lines[1:], len(header)))


def _parse_rows(path: Path, rows: list[str], width: int) -> np.ndarray:
    labels = np.empty((len(rows), width), dtype=np.int8)
    for number, row in enumerate(rows, start=2):
        cells = row.split(",")
        if len(cells) != width:
            raise InputError(path, f"line {number}: {len(cells)} values, expected {width}")
        try:
            values = [int(cell) for cell in cells]
        except ValueError:
            raise InputError(path, f"line {number}: {row!r} is not integers") from None
        if any(value not in (-1, 0, 1) for value in values):
            raise InputError(path, f"line {number}: values must be -1, 0 or 1, got {row!r}")
        labels[number - 2] = values
    return labels


def format_label_file(aus: tuple[str, ...], labels: np.ndarray) -> str:
    """The exact text of a label file (header, then one comma-separated line per frame)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != len(aus):
        raise ValueError(f"labels of shape {labels.shape} do not match {len(aus)} AUs")
    body = "\n".join(",".join(str(int(v)) for v in row) for row in labels)
    return ",".join(aus) + "\n" + (body + "\n" if len(labels) else "")


def write_label_file(path: str | Path, aus: tuple[str, ...], labels: np.ndarray) -> Path:
    """Write a label file atomically (see write_text_atomically)."""
    return write_text_atomically(Path(path), format_label_file(aus, labels))


def write_text_atomically(path: Path, text: str) -> Path:
    """Write through a partial file that replaces `path`, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def video_name_for_label(label_path: str | Path) -> tuple[str, str | None]:
    """(video stem, side) of a label file.

    `12-24-1920x1080_left.txt` → ('12-24-1920x1080', 'left'); `video7.txt` → ('video7', None).
    """
    stem = Path(label_path).stem
    side = _SIDE_SUFFIX.search(stem)
    if side:
        return stem[: side.start()], side.group(1)
    return stem, None


def find_video(folder: Path, video_stem: str) -> Path | None:
    """The video file called `video_stem` (any common extension) in `folder`, if present."""
    for extension in _VIDEO_EXTENSIONS:
        candidate = folder / f"{video_stem}{extension}"
        if candidate.is_file():
            return candidate
    return None
