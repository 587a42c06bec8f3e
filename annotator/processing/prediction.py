"""A video's path through the product, second half: predict → store. The active predictor (a
model version, else the geometry baseline) turns each subject's cached features
(annotator.processing.extraction) into per-frame AU probabilities, stored with the video as a
prediction run of that subject: its pre-fill.

Subjects seen on at least PREFILL_SHARE of the frames (and subject 1, the most seen, always) are
pre-filled when the video is processed; the others are listed with the video and pre-filled
when a coder chooses one (`prefill_subject`), from the features already cached.

`predict_video` is the half a worker process (or cluster node) can do alone; `store_prediction`
the half only the one process writing the database does; `process_video` both, for one video.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import db
from annotator.processing.extraction import (
    ProgressCallback,
    analyse_and_cache,
    cache_root,
    cached_expression,
    expression_path,
    features_for_video,
    video_cache_dir,
)
from annotator.processing.landmarks import SubjectLandmarks
from annotator.processing.proxy import playable_video
from annotator.processing.video import VideoSource
from annotator.services.context import Services
from model.au_sets import au_names
from model.baseline import GeometryBaseline
from model.errors import InputError
from model.expression import EXPRESSIONS, features_expression
from model.features import FeatureConfig
from model.files import content_hash
from model.fusion import NEUTRAL, fuse, fusion_settings
from model.predictors import AUPredictor, load_predictor
from model.smoothing import prefill_labels

PREFILL_SHARE = 0.1


@dataclass(frozen=True)
class SubjectSummary:
    """One subject as `process` reports it."""

    number: int
    frames_seen: int
    share: float  # of the video's frames
    prefilled: bool


@dataclass(frozen=True)
class ProcessedVideo:
    video_id: int
    run_id: int  # subject 1's run
    frames: int
    frames_with_face: int  # of subject 1, the most seen: 0 only when no face was found
    predictor: str
    subjects: tuple[SubjectSummary, ...] = ()


def active_predictor(
    services: Services, model: str | Path | None = None
) -> tuple[AUPredictor, int | None]:
    """The predictor that pre-fills: `model` if given, else the active version, else baseline."""
    if model is not None:
        return load_predictor(model), None
    with services.store.write() as session:
        version = db.active_model_version(session)
        if version is None:
            return load_predictor(None), None
        return load_predictor(version_file(session, version), version.au_set), version.id


def version_file(session: db.Session, version: db.ModelVersion) -> Path:
    """Where this host loads a model version from: its published file, else the database's
    copy of it written under the cache folder (another host made it)."""
    return db.model_version_file(session, version, cache_root() / "models")


@dataclass(frozen=True)
class VideoPrediction:
    """A video's AU probabilities before they are stored: small enough for a worker process
    (or a cluster node) to hand back to the one process that writes the database."""

    path: Path
    content_hash: str
    fps: float
    width: int
    height: int
    frames: int
    subjects: tuple[db.SubjectFound, ...]  # every subject found, by number
    probabilities: dict[int, np.ndarray]  # subject → (T, K) float32, NaN rows = no face


def predict_video(
    video: str | Path | VideoSource, predictor: AUPredictor, backend: str = "dlib",
    device: str = "cpu", progress: bool = False, on_progress: ProgressCallback | None = None,
) -> VideoPrediction:
    """Landmarks and features (cached), then the AU probabilities of every subject seen on
    PREFILL_SHARE of the frames (and of subject 1); nothing is stored. Given a path, the file
    is opened once here for all of it (the browser's proxy aside)."""
    if not isinstance(video, VideoSource):
        with VideoSource(video) as source:
            return predict_video(source, predictor, backend, device, progress, on_progress)
    analysis = analyse_and_cache(video, backend, device, progress=progress,
                                 on_progress=on_progress)
    playable_video(video, video_cache_dir(video.path, backend))  # a proxy when browsers cannot
    chosen = subjects_to_prefill(analysis.subjects)
    info = video.info
    return VideoPrediction(video.path, video.content_hash, info.fps, info.width, info.height,
                           len(analysis.subjects), subjects_found(analysis.subjects),
                           {n: predictor.predict(analysis.features(n)) for n in chosen})


def subjects_to_prefill(subjects: SubjectLandmarks) -> list[int]:
    """Subject 1 and every subject seen on at least PREFILL_SHARE of the frames."""
    return [n for n in range(1, subjects.count + 1)
            if n == 1 or subjects.frames_seen(n) >= PREFILL_SHARE * len(subjects)]


def subjects_found(subjects: SubjectLandmarks) -> tuple[db.SubjectFound, ...]:
    """What the database keeps of each subject: frames seen, where the face is, a thumbnail."""
    found = []
    for number in range(1, subjects.count + 1):
        seen = subjects.frames_seen(number)
        picture = None
        if seen:
            bgr = cv2.cvtColor(subjects.thumbnails[number - 1], cv2.COLOR_RGB2BGR)
            picture = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        found.append(db.SubjectFound(number, seen, subjects.centre_x(number), picture))
    return tuple(found)


def store_prediction(
    services: Services, prediction: VideoPrediction, parameters: db.PredictionParameters,
    version_id: int | None,
) -> ProcessedVideo:
    """Register the video (by content) and its subjects, and store each pre-filled subject's
    probabilities as a new prediction run of that subject."""
    frames = prediction.frames
    with services.store.write() as session:
        video = db.register_video(
            session, content_hash=prediction.content_hash, path=prediction.path.resolve(),
            fps=prediction.fps, frame_count=frames, width=prediction.width,
            height=prediction.height,
        )
        db.store_subjects(session, video, list(prediction.subjects))
        runs = {number: db.store_prediction_run(session, video, probabilities, parameters,
                                                version_id, number)
                for number, probabilities in prediction.probabilities.items()}
        session.flush()
        return ProcessedVideo(video.id, runs[1].id, frames, prediction.subjects[0].frames_seen,
                              parameters.details["version"],
                              subject_summaries(db.video_subjects(session, video.id), frames,
                                                set(runs)))


def subject_summaries(subjects: list[db.Subject], frames: int,
                      prefilled: set[int]) -> tuple[SubjectSummary, ...]:
    """The stored subjects of a video of `frames` frames as `process` reports them."""
    return tuple(SubjectSummary(s.number, s.frames_seen or 0, (s.frames_seen or 0) / max(frames, 1),
                                s.number in prefilled) for s in subjects)


def process_video(
    path: str | Path, services: Services, backend: str = "dlib", device: str = "cpu",
    model: str | Path | None = None, progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> ProcessedVideo:
    """Decode, find landmarks and features, predict AU probabilities and store them: what
    `au-annotator process` does for one video, and the app's "open video"."""
    with VideoSource(path) as video:  # a bad file fails here, before a model is loaded
        predictor, version_id = active_predictor(services, model)
        prediction = predict_video(video, predictor, backend, device, progress, on_progress)
    return store_prediction(services, prediction, prediction_parameters(predictor, backend),
                            version_id)


def prediction_parameters(
    predictor: AUPredictor, backend: str | None = None
) -> db.PredictionParameters:
    """How a run of this predictor becomes pre-fill labels (stored with the run)."""
    thresholds = map(float, predictor.thresholds)
    return db.PredictionParameters(
        au_set=predictor.au_set,
        thresholds=dict(zip(au_names(predictor.au_set), thresholds, strict=True)),
        smoothing_window=int(predictor.smoothing_window),
        predictor=predictor.kind,
        details={"landmark_backend": backend or predictor.landmark_backend,
                 "version": predictor.version, **predictor.settings},
        hold_frames=int(predictor.hold_frames),
    )


def prefill_subject(services: Services, video_id: int, subject: int) -> int:
    """Pre-fill a subject the video was processed without (seen on few frames) from its cached
    features, by the predictor, landmark backend and settings of subject 1's pre-fill; returns
    the new run's id (the existing one's when the subject already has a pre-fill)."""
    with services.store.write() as session:
        video = db.get_video(session, video_id)
        db.subject_row(session, video_id, subject)
        existing = db.latest_prediction_run(session, video_id, subject)
        if existing is not None:
            return existing.id
        first = db.prior_run(session, video_id, 1)
        if first is None:
            raise InputError(video.path, "has no pre-fill yet; process it first")
        parameters, version_id = db.run_parameters(first), first.model_version_id
        if version_id is not None:
            version = db.get_model_version(session, version_id)
            predictor = load_predictor(version_file(session, version), version.au_set)
        elif parameters.predictor == GeometryBaseline.kind:
            predictor = load_predictor(None)
        else:
            raise InputError(video.path, "was pre-filled by a checkpoint given to process "
                                         "--model; process it again with that checkpoint")
        path = Path(video.path)
    backend = parameters.run_details.landmark_backend
    probabilities = predictor.predict(features_for_video(path, backend, subject=subject))
    with services.store.write() as session:
        video = db.get_video(session, video_id)
        return db.store_prediction_run(session, video, probabilities, parameters, version_id,
                                       subject).id


# The evidence behind a cold-start pre-fill, each as the labels it alone would give.
GEOMETRY_SOURCE = "geometry alone"
EXPRESSION_SOURCE = "expression alone"


def source_labels(path: str | Path, backend: str, subject: int, au_set: str,
                  window: int) -> dict[str, np.ndarray]:
    """(T, K) int8 labels from each source of evidence on its own: the landmark geometry, and
    the expression network through the fusion table with geometry left undecided (p 0.5); both
    smoothed over `window` and cut at 0.5. Where they disagree with the pre-fill a coder's look
    is worth most (annotator.services.actions.review_queue). Read from the video's cache (a cache
    made before expressions were gets them classified once); {} when the file is gone."""
    path = Path(path)
    if not path.is_file():
        return {}
    return dict(_source_labels(path, content_hash(path), backend, subject, au_set, window))


@functools.lru_cache(maxsize=8)
def _source_labels(path: Path, digest: str, backend: str, subject: int, au_set: str,
                   window: int) -> tuple[tuple[str, np.ndarray], ...]:
    """Cached per video content: the page asks on every redraw."""
    try:
        features = features_for_video(path, backend, subject=subject)
    except (InputError, OSError):
        return ()
    aus = au_names(au_set)
    geometry = GeometryBaseline(au_set).predict(features)
    undecided = np.where(np.isnan(geometry), np.nan, 0.5).astype(np.float32)
    expression = fuse(undecided, features_expression(features), features.face, aus,
                      fusion_settings())
    return ((GEOMETRY_SOURCE, prefill_labels(geometry, 0.5, window)),
            (EXPRESSION_SOURCE, prefill_labels(expression, 0.5, window)))


@dataclass(frozen=True)
class FrameExpression:
    """What the expression network saw in one frame, as the page shows it."""

    frame: int
    strongest: tuple[tuple[str, float], ...]  # the two likeliest expressions, likeliest first
    implies: tuple[str, ...]  # AUs the fusion table ties to a likely non-neutral expression


def frame_expression(path: str | Path, backend: str, subject: int, frame: int,
                     aus: tuple[str, ...]) -> FrameExpression | None:
    """The expression evidence of one frame from the cache (None without a face there or a
    cached file): so a coder sees why the pre-fill says AU12."""
    path = Path(path)
    if not path.is_file():
        return None
    expression = _expression_table(path, content_hash(path), backend, subject)
    if expression is None or not 0 <= frame < len(expression) or np.isnan(expression[frame]).any():
        return None
    row = expression[frame]
    order = np.argsort(-row)[:2]
    likely = [k for k in np.flatnonzero(row >= 0.5) if k != NEUTRAL]
    table = fusion_settings().prototypes
    implies = sorted({au for k in likely for au, weight in table.get(EXPRESSIONS[k], {}).items()
                      if weight >= 0.5 and au in aus}, key=aus.index)
    return FrameExpression(frame, tuple((EXPRESSIONS[k], float(row[k])) for k in order),
                           tuple(implies))


@functools.lru_cache(maxsize=8)
def _expression_table(path: Path, digest: str, backend: str, subject: int) -> np.ndarray | None:
    """A subject's cached (T, 7) expressions, read once per video content: the page asks for
    one frame on every redraw."""
    return cached_expression(expression_path(path, backend, FeatureConfig(), subject))
