"""The Aff-Wild2 label file and folder layouts, read and written the same way by every layer.

A label file is a header naming the AUs (`AU1,AU2,...`) followed by one line per decoded frame
(line j after the header is frame j, 1-based) with one integer per AU: 1 present, 0 absent,
-1 not annotated. Prediction files use the same layout. Two people in one video are labelled
in `<video>_left.txt` and `<video>_right.txt`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.au_sets import AU_SETS, NOT_CODED, au_names, au_set_for_header
from model.errors import InputError
from model.files import VIDEO_EXTENSIONS, write_text_atomically

# Aff-Wild2's label folders per AU set: (folder, {split: subfolder}), in its own spelling.
SPLITS = ("train", "validation")
LAYOUTS: dict[str, tuple[str, dict[str, str]]] = {
    "abaw2020": ("AU_Set", {"train": "Training_Set", "validation": "Validation_Set"}),
    "abaw12": ("AU_Detection_Challenge", {"train": "Train_Set", "validation": "Validation_Set"}),
}
# Every released layout, newest first: (AU set, folder, {split: subfolder}). ABAW 2021 kept the
# 2020 folder, renamed its training split and moved to the 12 AUs.
RELEASED_LAYOUTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("abaw12", *LAYOUTS["abaw12"]),
    ("abaw12", "AU_Set", {"train": "Train_Set", "validation": "Validation_Set"}),
    ("abaw2020", *LAYOUTS["abaw2020"]),
)
# How a label file names one person of a video with several: Aff-Wild2's `_left` / `_right`,
# and `_subject<N>` for any other (person_suffixes).
_PERSON_SUFFIX = re.compile(r"_(left|right|subject[1-9][0-9]*)$")


# --- Aff-Wild2 label files ---------------------------------------------------------------


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
    return _label_file(path, _text_lines(path), au_set)


def read_label_file_leniently(path: str | Path, au_set: str | None = None) -> tuple[LabelFile, str]:
    """read_label_file for files as data sets release them: trailing blank lines are dropped and
    a blank line inside reads as a frame not annotated (-1), so later lines keep their frames.
    Returns the file and what was done ("" when nothing); any other problem raises InputError
    as read_label_file does."""
    path = Path(path)
    lines = _text_lines(path)
    kept = len(lines)
    while kept and not lines[kept - 1].strip():
        kept -= 1
    trailing, lines = len(lines) - kept, lines[:kept]
    width = len(lines[0].split(",")) if lines else 0
    inside = [number for number, line in enumerate(lines[1:], start=2) if not line.strip()]
    for number in inside:
        lines[number - 1] = ",".join([str(NOT_CODED)] * width)
    done = []
    if inside:
        done.append(f"{len(inside)} blank line(s) from line {inside[0]} read as not annotated")
    if trailing:
        done.append(f"{trailing} trailing blank line(s) ignored")
    return _label_file(path, lines, au_set), "; ".join(done)


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read label file ({error.__class__.__name__})") from None


def _label_file(path: Path, lines: list[str], au_set: str | None) -> LabelFile:
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
    """Write a label file atomically."""
    return write_text_atomically(path, format_label_file(aus, labels))


def video_name_for_label(label_path: str | Path) -> tuple[str, str | None]:
    """(video stem, person) of a label file: the person is "left", "right", "subject<N>", or
    None for the file of the video's subject 1.

    `12-24-1920x1080_left.txt` → ('12-24-1920x1080', 'left'); `video7.txt` → ('video7', None).
    """
    stem = Path(label_path).stem
    person = _PERSON_SUFFIX.search(stem)
    if person:
        return stem[: person.start()], person.group(1)
    return stem, None


def left_and_right(people: list[tuple[int, int, float]]) -> tuple[int, int] | None:
    """(left, right) subject numbers of a video from its subjects' (number, frames seen, median
    x of the face-box centre; NaN when never seen): the two most seen subjects that were seen,
    the one with the smaller x on the left. None when fewer than two were seen."""
    seen = sorted((p for p in people if not np.isnan(p[2])), key=lambda p: (-p[1], p[0]))
    if len(seen) < 2:
        return None
    left, right = sorted(seen[:2], key=lambda p: (p[2], p[0]))
    return left[0], right[0]


def person_suffixes(exported: list[int], pair: tuple[int, int] | None) -> dict[int, str]:
    """The file-name suffix of each exported subject of a video, so that reading the files
    back finds the same subjects: subject 1 alone → "" (`NAME.txt`); subjects of the video's
    left/right `pair` only → "_left" / "_right"; anything else → "_subject<N>" for each."""
    if list(exported) == [1]:
        return {1: ""}
    if pair is not None and set(exported) <= set(pair):
        return {n: "_left" if n == pair[0] else "_right" for n in exported}
    return {n: f"_subject{n}" for n in exported}


def subject_for_person(person: str | None, pair: tuple[int, int] | None) -> int | None:
    """The subject number a label file's person names (video_name_for_label), the reverse of
    person_suffixes; None for "left" / "right" when the video has no left/right pair."""
    if person is None:
        return 1
    if person in ("left", "right"):
        return None if pair is None else pair[0 if person == "left" else 1]
    return int(person.removeprefix("subject"))


def find_video(folder: Path, video_stem: str) -> Path | None:
    """The video file called `video_stem` (any known extension) in `folder`, if present."""
    for extension in VIDEO_EXTENSIONS:
        candidate = folder / f"{video_stem}{extension}"
        if candidate.is_file():
            return candidate
    return None


def label_file_folders(root: Path) -> list[Path]:
    """Where label files may lie under `root`: in it, or in any released split folder below it
    (root being the dataset, or its AU_Set or AU_Detection_Challenge folder)."""
    parents = ("", *(folder for folder, _ in LAYOUTS.values()))
    splits = ("", *dict.fromkeys(s for _, subs in LAYOUTS.values() for s in subs.values()))
    return [root / parent / split for parent in parents for split in splits]
