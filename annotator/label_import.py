"""Importing an Aff-Wild2 label folder as one coder's labels, so they can be reviewed and used
for fine-tuning.

Accepted layouts: a folder of `<video>.txt` files, or the challenge layouts
`AU_Set/Training_Set|Validation_Set` (ABAW 2020) and `AU_Detection_Challenge/Train_Set|
Validation_Set` (later editions), given as the dataset root or any folder on the way down.
Each file is matched to a registered video by the video's file name: `<video>.txt`, or
`<video>_left.txt` / `<video>_right.txt` for the two people of one video, stored as the sides
"left" and "right" of that video (see db.models.Edit.side). A file whose full stem names a
registered video is matched to it first, so a video literally called `x_left.mp4` still works.

Every file is checked before anything is written, and the caller runs the whole import in one
transaction: one bad file (unknown video, wrong header, wrong line count) stores nothing.
Labels become interval events, one per run of equal values per AU, in one edit of kind "import"
per file; -1 runs are kept, so exporting the labels again gives back the same file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from annotator.errors import InputError
from annotator.labels import LabelFile, read_label_file, video_name_for_label
from db.corrections import intervals_from_labels, record_edit
from db.models import Video
from db.videos import videos_named

logger = logging.getLogger(__name__)

_LAYOUT_PARENTS = ("", "AU_Set", "AU_Detection_Challenge")
_SPLITS = ("", "Training_Set", "Train_Set", "Validation_Set")


@dataclass(frozen=True)
class ImportedFile:
    path: Path
    video_id: int
    side: str | None
    au_set: str
    frames: int
    events: int


def find_label_files(folder: str | Path) -> list[Path]:
    """The label files of an Aff-Wild2 folder in any of the accepted layouts, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "not a folder of Aff-Wild2 label files")
    found: list[Path] = []
    for parent in _LAYOUT_PARENTS:
        for split in _SPLITS:
            place = folder / parent / split
            if place.is_dir():
                found.extend(p for p in sorted(place.glob("*.txt")) if p not in found)
    if not found:
        raise InputError(
            folder,
            "no label files (*.txt) here, nor under AU_Set/Training_Set|Validation_Set or "
            "AU_Detection_Challenge/Train_Set|Validation_Set",
        )
    return found


def import_label_folder(session: Session, folder: str | Path, coder: str) -> list[ImportedFile]:
    """Store every label file of `folder` as `coder`'s labels; the caller commits."""
    checked = [_check_file(session, path) for path in find_label_files(folder)]
    _refuse_duplicates(checked)
    imported = []
    for label_file, video, side in checked:
        intervals = intervals_from_labels(label_file.labels, label_file.aus)
        record_edit(session, video, coder, intervals, side, kind="import")
        imported.append(
            ImportedFile(
                label_file.path,
                video.id,
                side,
                label_file.au_set,
                len(label_file.labels),
                len(intervals),
            )
        )
        logger.info(
            "imported %s: %d events for video %d", label_file.path, len(intervals), video.id
        )
    return imported


def _check_file(session: Session, path: Path) -> tuple[LabelFile, Video, str | None]:
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


def _matching_video(session: Session, path: Path) -> tuple[Video, str | None]:
    candidates = [(path.stem, None), video_name_for_label(path)]
    for name, side in candidates:
        videos = videos_named(session, name)
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
