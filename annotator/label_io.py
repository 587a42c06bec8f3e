"""Label files in and out: an Aff-Wild2 label folder imported as one coder's labels, and a
video's effective labels exported as Aff-Wild2 label files or OpenFace-style CSV.

Import. Accepted layouts: a folder of `<video>.txt` files, or the challenge layouts
`AU_Set/Training_Set|Validation_Set` (ABAW 2020) and `AU_Detection_Challenge/Train_Set|
Validation_Set` (later editions), given as the dataset root or any folder on the way down.
Each file is matched to a registered video by the video's file name: `<video>.txt`, or
`<video>_left.txt` / `<video>_right.txt` for the two people of one video, stored as the sides
"left" and "right" of that video (see db.models.Edit.side). A file whose full stem names a
registered video is matched to it first, so a video literally called `x_left.mp4` still works.
Every file is checked before anything is written, and the caller runs the whole import in one
transaction: one bad file (unknown video, wrong header, wrong line count) stores nothing.
Labels become interval events, one per run of equal values per AU, in one edit of kind "import"
per file. In Aff-Wild2 files -1 means "no label here": such frames stay unreviewed (the
pre-fill shows there) unless `minus_one="not-codable"` stores them as the coder's "cannot be
coded". A file whose labels the coder already holds exactly is not stored again, so importing
the same folder twice changes nothing.

Export. One file per video and person: `<video>.txt`, or `<video>_left.txt` /
`<video>_right.txt` for the sides of a two-person video. Frames a coder reviewed carry the
coder's values (even where the face detector found no face: the coder saw one). Unreviewed
frames carry the latest model run's pre-fill, or -1 with `unreviewed="not-coded"`; unreviewed
frames without a face are always -1, and a video without any model run has nothing to
pre-fill (-1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import db
from model.formats import (
    NOT_CODED,
    InputError,
    LabelFile,
    label_file_folders,
    read_label_file,
    video_name_for_label,
    write_label_file,
    write_text_atomically,
)

logger = logging.getLogger(__name__)

FORMATS = ("affwild2", "openface-csv")
MINUS_ONE = ("unreviewed", "not-codable")  # what an imported -1 becomes
UNREVIEWED = ("prefill", "not-coded")


@dataclass(frozen=True)
class ExportOptions:
    format: str = "affwild2"
    coder: str | None = None  # None: the video's only coder, or the model when nobody coded it
    unreviewed: str = "prefill"  # or "not-coded" (-1)
    au_set: str | None = None  # None: the latest run's, else the one the labels use

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"export format must be one of {FORMATS}, got {self.format!r}")
        if self.unreviewed not in UNREVIEWED:
            raise ValueError(f"unreviewed must be one of {UNREVIEWED}, got {self.unreviewed!r}")


def export_video(
    session: db.Session, video: db.Video, out_dir: str | Path, options: ExportOptions
) -> list[Path]:
    """Write the video's labels into `out_dir`; returns the files written."""
    out_dir = Path(out_dir)
    coder = options.coder if options.coder is not None else _only_coder(session, video)
    sides = sorted(
        {t.side for t in db.tracks(session, video.id) if t.coder == coder},
        key=lambda side: side or "",
    ) or [None]
    written = []
    for side in sides:
        labels = db.effective_labels(session, video, coder, side, options.au_set)
        values = _exported_values(labels, options.unreviewed)
        stem = f"{video.name}_{side}" if side else video.name
        if options.format == "affwild2":
            path = write_label_file(out_dir / f"{stem}.txt", labels.aus, values)
        else:
            csv_text = openface_csv(labels.aus, values, video.fps)
            path = write_text_atomically(out_dir / f"{stem}.csv", csv_text)
        logger.info("exported video %d (%s) to %s", video.id, coder or "model", path)
        written.append(path)
    return written


def openface_csv(aus: tuple[str, ...], labels: np.ndarray, fps: float) -> str:
    """OpenFace-style CSV: frame (1-based), timestamp (s), then one `AU01_c` column per AU."""
    header = ["frame", "timestamp", *(f"AU{int(au[2:]):02d}_c" for au in aus)]
    lines = [",".join(header)]
    for index, row in enumerate(np.asarray(labels)):
        values = ",".join(str(int(v)) for v in row)
        lines.append(f"{index + 1},{index / fps:.3f},{values}")
    return "\n".join(lines) + "\n"


def _exported_values(labels: db.EffectiveLabels, unreviewed: str) -> np.ndarray:
    values = labels.labels.copy()
    if unreviewed == "not-coded":
        values[~labels.reviewed] = NOT_CODED
    return values


def _only_coder(session: db.Session, video: db.Video) -> str | None:
    coders = sorted({t.coder for t in db.tracks(session, video.id)})
    if len(coders) > 1:
        raise InputError(
            video.path, f"labelled by several coders ({', '.join(coders)}); choose one with --coder"
        )
    return coders[0] if coders else None


@dataclass(frozen=True)
class ImportedFile:
    path: Path
    video_id: int
    side: str | None
    au_set: str
    frames: int
    events: int  # interval events stored (0 when unchanged)
    unchanged: bool = False  # the coder already held exactly these labels


def find_label_files(folder: str | Path) -> list[Path]:
    """The label files of an Aff-Wild2 folder in any of the accepted layouts, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "not a folder of Aff-Wild2 label files")
    found: list[Path] = []
    for place in label_file_folders(folder):
        if place.is_dir():
            found.extend(p for p in sorted(place.glob("*.txt")) if p not in found)
    if not found:
        raise InputError(
            folder,
            "no label files (*.txt) here, nor under AU_Set/Training_Set|Validation_Set or "
            "AU_Detection_Challenge/Train_Set|Validation_Set",
        )
    return found


def import_label_folder(session: db.Session, folder: str | Path, coder: str,
                        minus_one: str = "unreviewed") -> list[ImportedFile]:
    """Store every label file of `folder` as `coder`'s labels; the caller commits."""
    if minus_one not in MINUS_ONE:
        raise ValueError(f"minus_one must be one of {MINUS_ONE}, got {minus_one!r}")
    checked = [_check_file(session, path) for path in find_label_files(folder)]
    _refuse_duplicates(checked)
    imported = []
    for label_file, video, side in checked:
        labels = label_file.labels
        coded = np.ones(labels.shape, bool) if minus_one == "not-codable" else labels != NOT_CODED
        unchanged = _already_held(session, video, coder, side, label_file, coded)
        intervals = [] if unchanged else db.intervals_from_labels(labels, label_file.aus, coded)
        if intervals:
            db.record_edit(session, video, coder, intervals, side, kind="import")
        imported.append(ImportedFile(label_file.path, video.id, side, label_file.au_set,
                                     len(labels), len(intervals), unchanged))
        logger.info("imported %s: %d events for video %d%s", label_file.path, len(intervals),
                    video.id, " (unchanged)" if unchanged else "")
    return imported


def _already_held(session: db.Session, video: db.Video, coder: str, side: str | None,
                  label_file: LabelFile, coded: np.ndarray) -> bool:
    """The coder's reviewed labels already equal the file's on every frame it codes."""
    current = db.effective_labels(session, video, coder, side, label_file.au_set)
    return bool(current.reviewed[coded].all()
                and (current.labels[coded] == label_file.labels[coded]).all())


def _check_file(session: db.Session, path: Path) -> tuple[LabelFile, db.Video, str | None]:
    video, side = _matching_video(session, path)
    label_file = read_label_file(path)
    frames = len(label_file.labels)
    if frames != video.frame_count:
        raise InputError(
            path,
            f"{frames} frame lines, but video {video.name} (id {video.id}) has "
            f"{video.frame_count} decoded frames",
        )
    return label_file, video, side


def _matching_video(session: db.Session, path: Path) -> tuple[db.Video, str | None]:
    candidates = [(path.stem, None), video_name_for_label(path)]
    for name, side in candidates:
        videos = db.videos_named(session, name)
        if len(videos) > 1:
            ids = ", ".join(str(v.id) for v in videos)
            raise InputError(path, f"several registered videos are named {name} (ids {ids})")
        if videos:
            return videos[0], side
    raise InputError(
        path,
        f"no registered video named {candidates[-1][0]}; "
        "process the video first (au-annotator process VIDEO)",
    )


def _refuse_duplicates(checked) -> None:
    seen: dict[tuple[int, str | None], Path] = {}
    for label_file, video, side in checked:
        key = (video.id, side)
        if key in seen:
            raise InputError(label_file.path, f"labels the same video and person as {seen[key]}")
        seen[key] = label_file.path
