"""Label files in and out: Aff-Wild2 label files and ELAN files imported as one coder's labels,
and a video's effective labels exported as Aff-Wild2 label files, OpenFace CSV, ELAN files or
BORIS projects (the last three are written by annotator.labelfiles.exchange and
annotator.labelfiles.elan).

Import. Accepted layouts: a folder of `<video>.txt` (Aff-Wild2) and `<video>.eaf` (ELAN) files,
or the challenge layouts `AU_Set/Training_Set|Validation_Set` (ABAW 2020) and
`AU_Detection_Challenge/Train_Set|Validation_Set` (later editions), given as the dataset root or
any folder on the way down. Each file is matched to a registered video by the video's file
name: `<video>.txt` for its subject 1, `<video>_left.txt` / `<video>_right.txt` for the left and
right of its two most seen subjects (model.formats.left_and_right), `<video>_subject<N>.txt` for
subject N. A file whose full stem names a registered video is matched to it first, so a video
literally called `x_left.mp4` still works; an ELAN file named otherwise is matched by the media
it links.
Every file is checked before anything is written, and the caller runs the whole import in one
transaction: one bad file (unknown video, wrong header, wrong line count, no AU tier) stores
nothing. Labels become interval events, one per run of equal values per AU, in one edit of kind
"import" per file. In Aff-Wild2 files -1 means "no label here": such frames stay unreviewed (the
pre-fill shows there) unless `minus_one="not-codable"` stores them as the coder's "cannot be
coded". An ELAN file's frames come from the video's decoded frame times; what its tiers mean is
in annotator.labelfiles.elan. A file whose labels the coder already holds exactly is not stored
again, so importing the same folder twice changes nothing.

Export. The subjects exported are those with a pre-fill or the coder's labels (or the one
asked for); one file per subject, named so that importing it finds the same subject again
(model.formats.person_suffixes): subject 1 alone `<video>.txt|.eaf|.boris`, the video's left and
right subjects `<video>_left.*` / `<video>_right.*`, otherwise `<video>_subject<N>.*`. The
OpenFace CSV is one file per video, as OpenFace writes several faces: a row per frame and
subject, `face_id` = subject number − 1. Frames a coder reviewed carry the coder's values (even
where the face detector found no face: the coder saw one). Unreviewed frames carry the
subject's latest model run's pre-fill, or -1 with `unreviewed="not-coded"`; unreviewed frames
without the subject's face are always -1, and a subject without any model run has nothing to
pre-fill (-1); the OpenFace CSV's intensity columns hold the model's probabilities
(annotator.labelfiles.exchange). ELAN and BORIS times are the decoded frames' times (frame / fps,
with a warning, when the video file is gone); the OpenFace CSV needs the video's landmarks, so it
refuses when the video file is gone. An ELAN file links the video by a path relative to where
the file lands: the export folder, or for a download (saved who knows where) the folder of the
video itself, so a file saved beside the video finds it by name.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import db
from annotator.labelfiles.elan import TierReport, elan_labels, elan_text, media_names, open_elan
from annotator.labelfiles.exchange import (
    OpenFacePerson,
    boris_project,
    decoded_frames,
    frame_times,
    openface_csv,
)
from annotator.processing.landmarks import SubjectLandmarks
from model.affwild2_files import (
    label_file_folders,
    person_suffixes,
    read_label_file,
    subject_for_person,
    video_name_for_label,
    write_label_file,
)
from model.au_sets import AU_SETS, NOT_CODED, au_names
from model.errors import InputError
from model.files import write_text_atomically

logger = logging.getLogger(__name__)

FORMATS = ("affwild2", "openface-csv", "elan", "boris")
SUFFIXES = {"affwild2": ".txt", "openface-csv": ".csv", "elan": ".eaf", "boris": ".boris"}
LABEL_FILE_SUFFIXES = (".txt", ".eaf")  # what import-labels reads
MINUS_ONE = ("unreviewed", "not-codable")  # what an imported -1 becomes
UNREVIEWED = ("prefill", "not-coded")
MODEL_AUTHOR = "au-annotator pre-fill"  # ELAN author of an export nobody coded


@dataclass(frozen=True)
class ExportOptions:
    format: str = "affwild2"
    coder: str | None = None  # None: the video's only coder, or the model when nobody coded it
    unreviewed: str = "prefill"  # or "not-coded" (-1)
    au_set: str | None = None  # None: the latest run's, else the one the labels use
    subject: int | None = None  # None: every subject with a pre-fill or the coder's labels
    download: bool = False  # the files go to a browser, not to stay in the folder written to

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
    subjects = _exported_subjects(session, video, coder, options.subject)
    suffixes = person_suffixes(subjects, db.left_and_right_subjects(session, video.id))
    name = video.name
    suffix = SUFFIXES[options.format]
    if written_before is not None and any(out_dir / f"{name}{suffixes[n]}{suffix}"
                                          in written_before for n in subjects):
        name = f"{video.name}-video{video.id}"
    labelled = {}
    au_set = options.au_set
    for subject in subjects:
        labelled[subject] = db.effective_labels(session, video, coder, subject, au_set)
        au_set = labelled[subject].au_set  # every file of the video in one AU set
    if options.format == "openface-csv":
        written = [_write_openface(session, video, out_dir / f"{name}{suffix}", labelled,
                                   options.unreviewed)]
    else:
        times = frame_times(session, video) if options.format in ("elan", "boris") else None
        written = [_write_subject(video, out_dir / f"{name}{suffixes[n]}{suffix}", labels,
                                  coder, options, suffixes[n], times)
                   for n, labels in labelled.items()]
    for path in written:
        logger.info("exported video %d (%s) to %s", video.id, coder or "model", path)
    if written_before is not None:
        written_before.update(written)
    return written


def _exported_subjects(session: db.Session, video: db.Video, coder: str | None,
                       chosen: int | None) -> list[int]:
    if chosen is not None:
        try:
            db.subject_row(session, video.id, chosen)
        except ValueError as error:  # it names the subjects the video has
            raise InputError(video.path, str(error)) from None
        return [chosen]
    coded = {t.subject for t in db.tracks(session, video.id) if t.coder == coder}
    return sorted(coded | db.prefilled_subjects(session, video.id)) or [1]


def _write_subject(video: db.Video, path: Path, labels: db.EffectiveLabels, coder: str | None,
                   options: ExportOptions, person_suffix: str, times) -> Path:
    """One subject's file in a per-subject format (Aff-Wild2, ELAN, BORIS); `times`: the
    video's frame times (ELAN and BORIS), read once per video."""
    values = _exported_values(labels, options.unreviewed)
    person = person_suffix.removeprefix("_") or None
    if options.format == "affwild2":
        return write_label_file(path, labels.aus, values)
    if options.format == "elan":
        lands_in = Path(video.path).absolute().parent if options.download else path.parent
        return write_text_atomically(path, elan_text(
            video, coder or MODEL_AUTHOR, person, labels.aus, values, labels.reviewed, times,
            lands_in))
    intervals = db.intervals_from_labels(values, labels.aus)
    return write_text_atomically(path, boris_project(video, path.stem, person or "subject",
                                                     intervals, labels.aus, times))


def _write_openface(session: db.Session, video: db.Video, path: Path,
                    labelled: dict[int, db.EffectiveLabels], unreviewed: str) -> Path:
    """The OpenFace CSV of the exported subjects, each with its own landmarks and the
    model's probabilities (its intensity columns)."""
    subjects = _openface_landmarks(session, video)
    people = [OpenFacePerson(number - 1, _exported_values(labels, unreviewed),
                             _model_probabilities(session, labels),
                             _subject_table(subjects, number))
              for number, labels in labelled.items()]
    aus = next(iter(labelled.values())).aus
    return write_text_atomically(path, openface_csv(aus, people))


def _model_probabilities(session: db.Session, labels: db.EffectiveLabels) -> np.ndarray:
    """(T, K) probabilities of the run the pre-fill came from, for the labels' AUs; NaN where
    it gave none (no run, no face, an AU it does not predict)."""
    probabilities = np.full(labels.labels.shape, np.nan, dtype=np.float32)
    run = db.get_prediction_run(session, labels.run_id) if labels.run_id is not None else None
    if run is None:
        return probabilities
    stored, run_aus = db.run_probabilities(run), au_names(run.au_set)
    for k, au in enumerate(labels.aus):
        if au in run_aus:
            probabilities[:, k] = stored[:, run_aus.index(au)]
    return probabilities


def _subject_table(subjects: SubjectLandmarks, number: int):
    """A subject's landmark table; one seen on no frame for a subject the landmarks lack (its
    labels came from a file, not from processing)."""
    if number <= subjects.count:
        return subjects.subject(number)
    return SubjectLandmarks.empty(1, subjects.timestamps).subject(1)


def _openface_landmarks(session: db.Session, video: db.Video) -> SubjectLandmarks:
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
    subject: int
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
    subject: int
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
            db.record_edit(session, found.video, coder, intervals, found.subject, kind="import")
        imported.append(ImportedFile(found.path, found.video.id, found.subject, found.aus,
                                     len(found.labels), len(intervals), unchanged, found.tiers))
        logger.info("imported %s: %d events for video %d%s", found.path, len(intervals),
                    found.video.id, " (unchanged)" if unchanged else "")
    return imported


def _read_file(session: db.Session, path: Path, minus_one: str,
               tier_map: dict[str, str]) -> _FileLabels:
    if path.suffix.lower() == ".eaf":
        document = open_elan(path)
        video, subject = _matching_video(session, path, media_names(document))
        found = elan_labels(path, document, frame_times(session, video), tier_map)
        return _FileLabels(path, video, subject, found.aus, found.labels, found.coded,
                           found.tiers)
    video, subject = _matching_video(session, path)
    label_file = read_label_file(path)
    labels = label_file.labels
    if len(labels) != video.frame_count:
        raise InputError(
            path,
            f"{len(labels)} frame lines, but video {video.name} (id {video.id}) has "
            f"{video.frame_count} decoded frames",
        )
    coded = np.ones(labels.shape, bool) if minus_one == "not-codable" else labels != NOT_CODED
    return _FileLabels(path, video, subject, label_file.aus, labels, coded)


def _already_held(session: db.Session, found: _FileLabels, coder: str) -> bool:
    """The coder's reviewed labels already equal the file's on every frame and AU it codes."""
    remaining = list(range(len(found.aus)))
    for au_set, set_aus in AU_SETS.items():  # effective labels come one AU set at a time
        columns = [k for k in remaining if found.aus[k] in set_aus]
        if not columns:
            continue
        current = db.effective_labels(session, found.video, coder, found.subject, au_set)
        held = [set_aus.index(found.aus[k]) for k in columns]
        coded = found.coded[:, columns]
        if not (current.reviewed[:, held][coded].all()
                and (current.labels[:, held][coded] == found.labels[:, columns][coded]).all()):
            return False
        remaining = [k for k in remaining if k not in columns]
    return True


def _matching_video(session: db.Session, path: Path,
                    media: list[str] | None = None) -> tuple[db.Video, int]:
    """The video a label file labels and the subject it labels, by its file name, else by the
    media it links (then subject 1)."""
    candidates = [(path.stem, None), video_name_for_label(path), *((m, None) for m in media or ())]
    for name, person in candidates:
        videos = db.videos_named(session, name)
        if len(videos) > 1:
            ids = ", ".join(str(v.id) for v in videos)
            raise InputError(path, f"several registered videos are named {name} (ids {ids})")
        if videos:
            return videos[0], _matching_subject(session, path, videos[0], person)
    linked = f" nor {', '.join(media)} (the media it links)" if media else ""
    raise InputError(
        path,
        f"no registered video named {candidates[1][0]}{linked}; "
        "process the video first (au-annotator process VIDEO)",
    )


def _matching_subject(session: db.Session, path: Path, video: db.Video,
                      person: str | None) -> int:
    subjects = db.video_subjects(session, video.id)
    subject = subject_for_person(person, db.left_and_right_subjects(session, video.id))
    if subject is None:
        seen = sum(1 for s in subjects if s.frames_seen)
        raise InputError(path, f"labels the {person} person, but {video.name} (id {video.id}) "
                               f"has {seen} subject(s) seen; a _left / _right file needs a video "
                               "where two faces were found (process it again), or name the "
                               "subject: NAME_subject<N>.txt")
    if subject not in {s.number for s in subjects}:
        raise InputError(path, f"labels subject {subject}, but {video.name} (id {video.id}) has "
                               f"subjects {', '.join(str(s.number) for s in subjects)}")
    return subject


def _refuse_duplicates(checked: list[_FileLabels]) -> None:
    seen: dict[tuple[int, int], Path] = {}
    for found in checked:
        key = (found.video.id, found.subject)
        if key in seen:
            raise InputError(found.path, f"labels the same video and person as {seen[key]}")
        seen[key] = found.path
