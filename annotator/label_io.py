"""Label files in and out: Aff-Wild2 label files and ELAN files imported as one coder's labels,
and a video's effective labels exported as Aff-Wild2 label files, OpenFace CSV, ELAN files or
BORIS projects (the last three are written by annotator.label_formats and annotator.elan).

Import. Accepted layouts: a folder of `<video>.txt` (Aff-Wild2) and `<video>.eaf` (ELAN) files,
or the challenge layouts `AU_Set/Training_Set|Validation_Set` (ABAW 2020) and
`AU_Detection_Challenge/Train_Set|Validation_Set` (later editions), given as the dataset root or
any folder on the way down. Each file is matched to a registered video by the video's file
name: `<video>.txt`, or `<video>_left.txt` / `<video>_right.txt` for the two people of one
video, stored as the sides "left" and "right" of that video (see db.models.Edit.side). A file
whose full stem names a registered video is matched to it first, so a video literally called
`x_left.mp4` still works; an ELAN file named otherwise is matched by the media it links.
Every file is checked before anything is written, and the caller runs the whole import in one
transaction: one bad file (unknown video, wrong header, wrong line count, no AU tier) stores
nothing. Labels become interval events, one per run of equal values per AU, in one edit of kind
"import" per file. In Aff-Wild2 files -1 means "no label here": such frames stay unreviewed (the
pre-fill shows there) unless `minus_one="not-codable"` stores them as the coder's "cannot be
coded". An ELAN file's frames come from the video's decoded frame times; what its tiers mean is
in annotator.elan. A file whose labels the coder already holds exactly is not stored again, so
importing the same folder twice changes nothing.

Export. One file per video and person: `<video>.txt|.csv|.eaf|.boris`, or `<video>_left.*` /
`<video>_right.*` for the sides of a two-person video. Frames a coder reviewed carry the
coder's values (even where the face detector found no face: the coder saw one). Unreviewed
frames carry the latest model run's pre-fill, or -1 with `unreviewed="not-coded"`; unreviewed
frames without a face are always -1, and a video without any model run has nothing to
pre-fill (-1). ELAN and BORIS times are the decoded frames' times (frame / fps, with a warning,
when the video file is gone); the OpenFace CSV needs the video's landmarks, so it refuses when
the video file is gone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import db
from annotator.elan import TierReport, elan_labels, elan_text, media_names, open_elan
from annotator.label_formats import (
    boris_project,
    decoded_frames,
    frame_times,
    openface_csv,
)
from annotator.landmarks import LandmarkTable
from model.formats import (
    AU_SETS,
    NOT_CODED,
    InputError,
    label_file_folders,
    read_label_file,
    video_name_for_label,
    write_label_file,
    write_text_atomically,
)

logger = logging.getLogger(__name__)

FORMATS = ("affwild2", "openface-csv", "elan", "boris")
SUFFIXES = {"affwild2": ".txt", "openface-csv": ".csv", "elan": ".eaf", "boris": ".boris"}
LABEL_FILE_SUFFIXES = (".txt", ".eaf")  # what import-labels reads
MINUS_ONE = ("unreviewed", "not-codable")  # what an imported -1 becomes
UNREVIEWED = ("prefill", "not-coded")
FACE_IDS = {"left": 0, "right": 1}  # OpenFace CSV face_id of each side
MODEL_AUTHOR = "au-annotator pre-fill"  # ELAN author of an export nobody coded


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
    session: db.Session, video: db.Video, out_dir: str | Path, options: ExportOptions,
    written_before: set[Path] | None = None,
) -> list[Path]:
    """Write the video's labels into `out_dir`; returns the files written.

    `written_before` holds the files this export already wrote (and gets these added): a
    video whose name another video of the same export already used is written as
    `NAME-video<id>`, never over the first."""
    out_dir = Path(out_dir)
    coder = options.coder if options.coder is not None else _only_coder(session, video)
    sides = sorted(
        {t.side for t in db.tracks(session, video.id) if t.coder == coder},
        key=lambda side: side or "",
    ) or [None]
    times = frame_times(session, video) if options.format in ("elan", "boris") else None
    table = _openface_landmarks(session, video) if options.format == "openface-csv" else None
    written = []
    for side in sides:
        labels = db.effective_labels(session, video, coder, side, options.au_set)
        values = _exported_values(labels, options.unreviewed)
        stem = f"{video.name}_{side}" if side else video.name
        path = out_dir / f"{stem}{SUFFIXES[options.format]}"
        if written_before is not None and path in written_before:
            stem = f"{video.name}-video{video.id}" + (f"_{side}" if side else "")
            path = out_dir / f"{stem}{SUFFIXES[options.format]}"
        if options.format == "affwild2":
            write_label_file(path, labels.aus, values)
        elif options.format == "openface-csv":
            if side:
                logger.warning("%s: the landmarks follow one face, so the OpenFace CSV of side "
                               "%s has success 0 on every frame", video.path, side)
            face_id = FACE_IDS.get(side, 0)
            write_text_atomically(path, openface_csv(labels.aus, values, table, face_id,
                                                     tracked=side is None))
        elif options.format == "elan":
            write_text_atomically(path, elan_text(video, coder or MODEL_AUTHOR, side, labels.aus,
                                                  values, labels.reviewed, times, out_dir))
        else:
            intervals = db.intervals_from_labels(values, labels.aus)
            write_text_atomically(path, boris_project(video, stem, side or "subject", intervals,
                                                      labels.aus, times))
        logger.info("exported video %d (%s) to %s", video.id, coder or "model", path)
        written.append(path)
        if written_before is not None:
            written_before.add(path)
    return written


def _openface_landmarks(session: db.Session, video: db.Video) -> LandmarkTable:
    table = decoded_frames(session, video)
    if table is None:
        raise InputError(video.path, "video file not found; the OpenFace CSV carries the "
                                     "video's landmarks, so put the file back (or process it "
                                     "again) before exporting")
    return table


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
    aus: tuple[str, ...]  # the AUs the file labels
    frames: int
    events: int  # interval events stored (0 when unchanged)
    unchanged: bool = False  # the coder already held exactly these labels
    tiers: tuple[TierReport, ...] = ()  # ELAN files: how each tier was read


@dataclass(frozen=True)
class _FileLabels:
    """One checked file's labels, ready to store."""

    path: Path
    video: db.Video
    side: str | None
    aus: tuple[str, ...]
    labels: np.ndarray  # (T, K) int8
    coded: np.ndarray  # (T, K) bool: the frames and AUs the file gives the coder's labels for
    tiers: tuple[TierReport, ...] = ()


def find_label_files(folder: str | Path) -> list[Path]:
    """The label files (.txt, .eaf) of a folder in any of the accepted layouts, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "not a folder of label files")
    found: list[Path] = []
    for place in label_file_folders(folder):
        if place.is_dir():
            found.extend(p for p in sorted(place.iterdir())
                         if p.suffix.lower() in LABEL_FILE_SUFFIXES and p not in found)
    if not found:
        raise InputError(
            folder,
            "no label files (*.txt, *.eaf) here, nor under AU_Set/Training_Set|Validation_Set or "
            "AU_Detection_Challenge/Train_Set|Validation_Set",
        )
    return found


def import_label_folder(session: db.Session, folder: str | Path, coder: str,
                        minus_one: str = "unreviewed",
                        tier_map: dict[str, str] | None = None) -> list[ImportedFile]:
    """Store every label file of `folder` as `coder`'s labels; the caller commits.

    `tier_map` names ELAN tiers' AUs ({tier name in lower case: AU}, see elan.parse_tier_map).
    """
    if minus_one not in MINUS_ONE:
        raise ValueError(f"minus_one must be one of {MINUS_ONE}, got {minus_one!r}")
    checked = [_read_file(session, path, minus_one, tier_map or {})
               for path in find_label_files(folder)]
    _refuse_duplicates(checked)
    imported = []
    for found in checked:
        unchanged = _already_held(session, found, coder)
        intervals = [] if unchanged else db.intervals_from_labels(found.labels, found.aus,
                                                                  found.coded)
        if intervals:
            db.record_edit(session, found.video, coder, intervals, found.side, kind="import")
        imported.append(ImportedFile(found.path, found.video.id, found.side, found.aus,
                                     len(found.labels), len(intervals), unchanged, found.tiers))
        logger.info("imported %s: %d events for video %d%s", found.path, len(intervals),
                    found.video.id, " (unchanged)" if unchanged else "")
    return imported


def _read_file(session: db.Session, path: Path, minus_one: str,
               tier_map: dict[str, str]) -> _FileLabels:
    if path.suffix.lower() == ".eaf":
        document = open_elan(path)
        video, side = _matching_video(session, path, media_names(document))
        found = elan_labels(path, document, frame_times(session, video), tier_map)
        return _FileLabels(path, video, side, found.aus, found.labels, found.coded, found.tiers)
    video, side = _matching_video(session, path)
    label_file = read_label_file(path)
    labels = label_file.labels
    if len(labels) != video.frame_count:
        raise InputError(
            path,
            f"{len(labels)} frame lines, but video {video.name} (id {video.id}) has "
            f"{video.frame_count} decoded frames",
        )
    coded = np.ones(labels.shape, bool) if minus_one == "not-codable" else labels != NOT_CODED
    return _FileLabels(path, video, side, label_file.aus, labels, coded)


def _already_held(session: db.Session, found: _FileLabels, coder: str) -> bool:
    """The coder's reviewed labels already equal the file's on every frame and AU it codes."""
    remaining = list(range(len(found.aus)))
    for au_set, set_aus in AU_SETS.items():  # effective labels come one AU set at a time
        columns = [k for k in remaining if found.aus[k] in set_aus]
        if not columns:
            continue
        current = db.effective_labels(session, found.video, coder, found.side, au_set)
        held = [set_aus.index(found.aus[k]) for k in columns]
        coded = found.coded[:, columns]
        if not (current.reviewed[:, held][coded].all()
                and (current.labels[:, held][coded] == found.labels[:, columns][coded]).all()):
            return False
        remaining = [k for k in remaining if k not in columns]
    return True


def _matching_video(session: db.Session, path: Path,
                    media: list[str] | None = None) -> tuple[db.Video, str | None]:
    """The video a label file labels, by its file name, else by the media it links."""
    candidates = [(path.stem, None), video_name_for_label(path), *((m, None) for m in media or ())]
    for name, side in candidates:
        videos = db.videos_named(session, name)
        if len(videos) > 1:
            ids = ", ".join(str(v.id) for v in videos)
            raise InputError(path, f"several registered videos are named {name} (ids {ids})")
        if videos:
            return videos[0], side
    linked = f" nor {', '.join(media)} (the media it links)" if media else ""
    raise InputError(
        path,
        f"no registered video named {candidates[1][0]}{linked}; "
        "process the video first (au-annotator process VIDEO)",
    )


def _refuse_duplicates(checked: list[_FileLabels]) -> None:
    seen: dict[tuple[int, str | None], Path] = {}
    for found in checked:
        key = (found.video.id, found.side)
        if key in seen:
            raise InputError(found.path, f"labels the same video and person as {seen[key]}")
        seen[key] = found.path
