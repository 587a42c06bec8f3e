"""A video's path through the product, second half: predict → store. The active predictor (a
model version, else the geometry baseline) turns a video's cached features (annotator.pipeline)
into per-frame AU probabilities, stored with the video as a prediction run: its pre-fill.

`predict_video` is the half a worker process (or cluster node) can do alone; `store_prediction`
the half only the one process writing the database does; `process_video` both, for one video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import db
from annotator.pipeline import ProgressCallback, analyse_and_cache, cache_root, video_cache_dir
from annotator.proxy import playable_video
from annotator.video import open_video
from model.checkpoint import AUPredictor, load_predictor
from model.formats import au_names, content_hash


@dataclass(frozen=True)
class ProcessedVideo:
    video_id: int
    run_id: int
    frames: int
    frames_with_face: int
    predictor: str


def active_predictor(
    database_url: str, model: str | Path | None = None
) -> tuple[AUPredictor, int | None]:
    """The predictor that pre-fills: `model` if given, else the active version, else baseline."""
    if model is not None:
        return load_predictor(model), None
    with db.open_database(database_url).begin() as session:
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
    frames_with_face: int
    probabilities: np.ndarray  # (T, K) float32, NaN rows = no face


def predict_video(
    path: str | Path, predictor: AUPredictor, backend: str = "dlib", device: str = "cpu",
    progress: bool = False, on_progress: ProgressCallback | None = None,
) -> VideoPrediction:
    """Landmarks and features (cached), then AU probabilities; nothing is stored."""
    path = Path(path)
    info = open_video(path)
    analysis = analyse_and_cache(path, backend, device, progress=progress,
                                 on_progress=on_progress)
    playable_video(path, video_cache_dir(path, backend))  # a proxy when browsers cannot play it
    return VideoPrediction(path, content_hash(path), info.fps, info.width, info.height,
                           int(analysis.landmarks.face.sum()),
                           predictor.predict(analysis.features))


def store_prediction(
    database_url: str, prediction: VideoPrediction, parameters: db.PredictionParameters,
    version_id: int | None,
) -> ProcessedVideo:
    """Register the video (by content) and store its probabilities as a new prediction run."""
    frames = len(prediction.probabilities)
    with db.open_database(database_url).begin() as session:
        video = db.register_video(
            session, content_hash=prediction.content_hash, path=prediction.path.resolve(),
            fps=prediction.fps, frame_count=frames, width=prediction.width,
            height=prediction.height,
        )
        run = db.store_prediction_run(session, video, prediction.probabilities, parameters,
                                      version_id)
        session.flush()
        return ProcessedVideo(video.id, run.id, frames, prediction.frames_with_face,
                              parameters.details["version"])


def process_video(
    path: str | Path, database_url: str, backend: str = "dlib", device: str = "cpu",
    model: str | Path | None = None, progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> ProcessedVideo:
    """Decode, find landmarks and features, predict AU probabilities and store them: what
    `au-annotator process` does for one video, and the app's "open video"."""
    open_video(path)  # a bad file fails here, before a model is loaded
    predictor, version_id = active_predictor(database_url, model)
    prediction = predict_video(path, predictor, backend, device, progress, on_progress)
    return store_prediction(database_url, prediction, prediction_parameters(predictor, backend),
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
        predictor="geometry-baseline" if predictor.version == "baseline" else "network",
        details={"landmark_backend": backend or predictor.landmark_backend,
                 "version": predictor.version},
        hold_frames=int(getattr(predictor, "hold_frames", 0)),
    )
