"""Videos and their prediction runs.

A video is registered once per content and found again by content hash, id or file name; it
has subject 1 from then on (db.subjects). A prediction run is a predictor's per-frame AU
probabilities for one subject of a video (subject 1 unless named), stored as one
little-endian float32 array (a 30-minute 30 fps video with 8 AUs is 1.7 MB), exactly what the
predictor produced. The pre-fill labels (smoothed, thresholded) are computed once when the run
is stored and kept beside them as int8 bytes: reading a run's pre-fill costs no smoothing, and
it stays what the coder reviewed.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.details import RunDetails
from db.subjects import first_subject, subject_row
from db.tables import PredictionRun, PrefillSettings, Subject, Video
from model.adapt import ADAPTED_KIND
from model.au_sets import au_names
from model.files import content_hash
from model.smoothing import prefill_labels

logger = logging.getLogger(__name__)

_STORED_DTYPE = np.dtype("<f4")
ADAPTED = ADAPTED_KIND  # the predictor of runs made by learning from a video's corrections
KEEP_ADAPTED_RUNS = 3  # older adapted runs of a video are superseded and deleted


def register_video(
    session: Session,
    *,
    content_hash: str,
    path: str | Path,
    fps: float,
    frame_count: int,
    width: int,
    height: int,
) -> Video:
    """The row for this content, created if new; a moved or renamed file updates path and name.

    `frame_count` is the number of decoded frames (containers often claim another number).
    """
    path = Path(path)
    video = session.scalar(select(Video).where(Video.content_hash == content_hash))
    if video is None:
        video = Video(
            content_hash=content_hash,
            path=str(path),
            name=path.stem,
            fps=float(fps),
            frame_count=int(frame_count),
            width=int(width),
            height=int(height),
        )
        session.add(video)
        session.flush()
        first_subject(session, video)
        logger.info("registered video %d: %s (%d frames)", video.id, path, frame_count)
    elif video.path != str(path):
        logger.info("video %d moved: %s -> %s", video.id, video.path, path)
        video.path, video.name = str(path), path.stem
    return video


def get_video(session: Session, video_id: int) -> Video | None:
    return session.get(Video, video_id)


def videos_named(session: Session, name: str) -> list[Video]:
    """Videos whose file stem is `name` (several when different files share a name)."""
    return list(session.scalars(select(Video).where(Video.name == name).order_by(Video.id)))


def videos_matching(session: Session, value: str) -> list[Video]:
    """The videos a user means by `value` on a command line: an id, a name (the file's stem),
    a file name with its extension, or a path. A path to a file registered under another path
    (moved, or reached through a link) finds its video by content."""
    if value.isdigit():
        video = session.get(Video, int(value))
        return [video] if video is not None else []
    named = videos_named(session, value)
    if named:
        return named
    given = Path(value)
    same_stem = videos_named(session, given.stem)
    if given.name == value:  # a file name: no folder given
        return [video for video in same_stem if Path(video.path).name == value]
    found = [video for video in same_stem if _same_file(Path(video.path), given)]
    if found or not given.is_file():
        return found
    by_content = session.scalar(select(Video).where(Video.content_hash == content_hash(given)))
    return [by_content] if by_content is not None else []


def _same_file(stored: Path, given: Path) -> bool:
    return stored.absolute() == given.absolute() or stored.resolve() == given.resolve()


def list_videos(session: Session) -> list[Video]:
    return list(session.scalars(select(Video).order_by(Video.id)))


def processed_video_id(session: Session, content_hash: str) -> int | None:
    """The id of the video with this content when it has a stored prediction run, else None."""
    return session.scalar(
        select(Video.id)
        .join(PredictionRun, PredictionRun.video_id == Video.id)
        .where(Video.content_hash == content_hash)
        .limit(1)
    )


def run_with_backend(session: Session, content_hash: str, landmark_backend: str,
                     version: str | None = None) -> PredictionRun | None:
    """The newest run of the video with this content whose landmarks came from
    `landmark_backend` (and, when given, whose predictor is `version`): the video counts as
    processed that way. None when there is no such run."""
    wanted = {"landmark_backend": landmark_backend}
    if version is not None:
        wanted["version"] = version
    runs = session.execute(
        select(PredictionRun.id, PredictionRun.parameters)
        .join(Video, PredictionRun.video_id == Video.id)
        .where(Video.content_hash == content_hash)
        .order_by(PredictionRun.id.desc())
    )
    details = ((run_id, parameters.get("details", {})) for run_id, parameters in runs)
    found = next((run_id for run_id, known in details
                  if all(known.get(key) == value for key, value in wanted.items())), None)
    return None if found is None else session.get(PredictionRun, found)


def processed_videos(session: Session) -> list[Video]:
    """Videos with at least one prediction run, by id."""
    has_run = select(PredictionRun.id).where(PredictionRun.video_id == Video.id).exists()
    return list(session.scalars(select(Video).where(has_run).order_by(Video.id)))


@dataclass(frozen=True)
class PredictionParameters:
    """How a run's probabilities become pre-fill labels (stored with the run as JSON)."""

    au_set: str
    thresholds: dict[str, float]  # per AU name
    smoothing_window: int
    predictor: str = "network"  # "network", "geometry-baseline" or ADAPTED
    details: dict = field(default_factory=dict)  # anything else worth keeping (backend, ...)
    hold_frames: int = 0  # each positive held this many frames after smoothing (0: none)

    def threshold_array(self) -> np.ndarray:
        return np.array([self.thresholds[au] for au in au_names(self.au_set)], dtype=np.float32)

    @property
    def run_details(self) -> RunDetails:
        """`details` read with their defaults (db.details)."""
        return RunDetails.from_json(self.details)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PredictionParameters:
        return cls(**data)


def store_prediction_run(
    session: Session,
    video: Video,
    probabilities: np.ndarray,
    parameters: PredictionParameters,
    model_version_id: int | None = None,
    subject: int = 1,
) -> PredictionRun:
    """Store (T, K) probabilities of one subject, NaN rows = no face; model_version_id None =
    the baseline."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    aus = au_names(parameters.au_set)
    if probabilities.shape != (video.frame_count, len(aus)):
        raise ValueError(
            f"probabilities of shape {probabilities.shape} do not fit video {video.id} "
            f"({video.frame_count} frames, {len(aus)} AUs of {parameters.au_set})"
        )
    missing = set(aus) - set(parameters.thresholds)
    if missing:
        raise ValueError(f"thresholds missing for {sorted(missing)}")
    run = PredictionRun(
        video_id=video.id,
        subject_id=subject_row(session, video.id, subject).id,
        model_version_id=model_version_id,
        au_set=parameters.au_set,
        parameters=parameters.to_json(),
        frame_count=video.frame_count,
        probabilities=probabilities.astype(_STORED_DTYPE).tobytes(),
        prefill=prefill_labels(
            probabilities, parameters.threshold_array(), parameters.smoothing_window,
            parameters.hold_frames,
        ).tobytes(),
    )
    session.add(run)
    session.flush()
    return run


def _of_subject(video_id: int, subject: int) -> tuple:
    """WHERE conditions selecting the runs of one subject of a video."""
    of_subject = select(Subject.id).where(Subject.video_id == video_id,
                                          Subject.number == subject).scalar_subquery()
    return PredictionRun.video_id == video_id, PredictionRun.subject_id == of_subject


def latest_prediction_run(session: Session, video_id: int,
                          subject: int = 1) -> PredictionRun | None:
    """The subject's newest run: its pre-fill. None when the subject has none (yet)."""
    return session.scalar(
        select(PredictionRun)
        .where(*_of_subject(video_id, subject))
        .order_by(PredictionRun.id.desc())
        .limit(1)
    )


def latest_run_id(session: Session, video_id: int, subject: int = 1) -> int | None:
    """The id of the subject's newest run, without reading its arrays."""
    return session.scalar(
        select(PredictionRun.id)
        .where(*_of_subject(video_id, subject))
        .order_by(PredictionRun.id.desc())
        .limit(1)
    )


def prefilled_subjects(session: Session, video_id: int) -> set[int]:
    """Numbers of the video's subjects that have a prediction run."""
    return set(session.scalars(
        select(Subject.number).join(PredictionRun, PredictionRun.subject_id == Subject.id)
        .where(Subject.video_id == video_id).distinct()
    ))


def prior_run(session: Session, video_id: int, subject: int = 1) -> PredictionRun | None:
    """The subject's newest run not made by adaptation: the active predictor's pre-fill (with
    any smoothing or thresholds a coder set), which adaptation starts from."""
    found = next((run_id for run_id, parameters in _run_kinds(session, video_id, subject)
                  if parameters.get("predictor") != ADAPTED), None)
    return None if found is None else session.get(PredictionRun, found)


def prune_adapted_runs(session: Session, video_id: int, subject: int = 1,
                       keep: int = KEEP_ADAPTED_RUNS) -> int:
    """Delete all but the newest `keep` adapted runs of a subject (each re-adaptation
    supersedes the last; a run is derived data, never a coder's work); returns how many went."""
    adapted = [run_id for run_id, parameters in _run_kinds(session, video_id, subject)
               if parameters.get("predictor") == ADAPTED]
    if adapted[keep:]:
        session.execute(delete(PredictionRun).where(PredictionRun.id.in_(adapted[keep:])))
    return len(adapted[keep:])


def _run_kinds(session: Session, video_id: int, subject: int) -> list[tuple[int, dict]]:
    """(id, parameters) of a subject's runs, newest first, without their arrays."""
    return list(session.execute(
        select(PredictionRun.id, PredictionRun.parameters)
        .where(*_of_subject(video_id, subject)).order_by(PredictionRun.id.desc())
    ))


def get_prediction_run(session: Session, run_id: int) -> PredictionRun | None:
    return session.get(PredictionRun, run_id)


def run_probabilities(run: PredictionRun) -> np.ndarray:
    """(T, K) float32 probabilities of a run, NaN rows for no-face frames."""
    aus = au_names(run.au_set)
    flat = np.frombuffer(run.probabilities, dtype=_STORED_DTYPE)
    return flat.reshape(run.frame_count, len(aus)).astype(np.float32)


def run_parameters(run: PredictionRun) -> PredictionParameters:
    return PredictionParameters.from_json(run.parameters)


def coder_prefill_parameters(parameters: PredictionParameters,
                             settings: PrefillSettings | None) -> tuple[np.ndarray, int]:
    """(K,) thresholds and the smoothing window a coder's pre-fill uses: the coder's own
    settings for the video (db.prefill_settings) over the run's; an AU the coder did not set
    keeps the run's threshold."""
    if settings is None:
        return parameters.threshold_array(), parameters.smoothing_window
    merged = {**parameters.thresholds, **settings.thresholds}
    return (np.array([merged[au] for au in au_names(parameters.au_set)], np.float32),
            settings.smoothing_window)


def run_prefill(run: PredictionRun,
                settings: PrefillSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A run's pre-fill: (T, K) int8 labels (smoothed, thresholded, -1 without a face) and the
    (T,) bool face mask. With a coder's `settings` (db.tables.PrefillSettings), smoothed and
    thresholded their way (AUs they did not set keep the run's threshold)."""
    probabilities = run_probabilities(run)
    face = ~np.isnan(probabilities).all(axis=1)
    if settings is not None:
        parameters = run_parameters(run)
        thresholds, window = coder_prefill_parameters(parameters, settings)
        return prefill_labels(probabilities, thresholds, window, parameters.hold_frames), face
    shape = (run.frame_count, len(au_names(run.au_set)))
    return np.frombuffer(run.prefill, dtype=np.int8).reshape(shape).copy(), face


@dataclass(frozen=True)
class RunSummary:
    """A run without its arrays: what a page redraw needs to know of it."""

    id: int
    au_set: str
    frame_count: int
    created_at: datetime
    parameters: PredictionParameters


def latest_run_summary(session: Session, video_id: int, subject: int = 1) -> RunSummary | None:
    """The subject's newest run, its arrays left in the database."""
    row = session.execute(
        select(PredictionRun.id, PredictionRun.au_set, PredictionRun.frame_count,
               PredictionRun.created_at, PredictionRun.parameters)
        .where(*_of_subject(video_id, subject)).order_by(PredictionRun.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return RunSummary(*row[:4], PredictionParameters.from_json(row[4]))


CACHED_RUNS = 8  # stored pre-fills kept decoded in memory (about 0.5 MB per 30-minute video)
_stored_prefills: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_stored_prefills_lock = threading.Lock()


def stored_prefill(session: Session, run: RunSummary) -> tuple[np.ndarray, np.ndarray]:
    """A run's stored pre-fill labels (T, K) and face mask (T,), read-only. Runs never change
    once stored, so every redraw of every coder's page shares one decoded copy, and a redraw
    does not read the run's 2 MB of arrays again. The key holds the run's time, so a run id
    reused after adapted runs were pruned is not mistaken for the old run."""
    key = (session.get_bind().url.render_as_string(), run.id, run.created_at)
    with _stored_prefills_lock:
        if key in _stored_prefills:
            _stored_prefills.move_to_end(key)
            return _stored_prefills[key]
    labels, face = run_prefill(session.get(PredictionRun, run.id))
    labels.flags.writeable = face.flags.writeable = False
    with _stored_prefills_lock:
        _stored_prefills[key] = labels, face
        while len(_stored_prefills) > CACHED_RUNS:
            _stored_prefills.popitem(last=False)
    return labels, face
