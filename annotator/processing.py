"""Processing a video into the database: analyse (cached), predict AUs, store the run.

This is what `au-annotator process` and the app's "open video" do. The active model version
pre-fills when there is one; otherwise the landmark-geometry baseline does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import db
from annotator.cache import content_hash
from annotator.pipeline import ProgressCallback, analyse_and_cache
from annotator.video import open_video
from model.constants import au_names
from model.predictor import AUPredictor, load_predictor

log = logging.getLogger(__name__)


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
        return load_predictor(version.path, version.au_set), version.id


def process_video(
    path: str | Path, database_url: str, backend: str = "dlib", device: str = "cpu",
    model: str | Path | None = None, progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> ProcessedVideo:
    """Decode, find landmarks and features, predict AU probabilities and store them."""
    path = Path(path)
    info = open_video(path)
    predictor, version_id = active_predictor(database_url, model)
    analysis = analyse_and_cache(path, backend, device, progress=progress,
                                 on_progress=on_progress)
    probabilities = predictor.predict(analysis.features)  # (T, K), NaN rows = no face
    parameters = prediction_parameters(predictor, backend)
    with db.open_database(database_url).begin() as session:
        video = db.register_video(
            session, content_hash=content_hash(path), path=path.resolve(), fps=info.fps,
            frame_count=len(analysis.landmarks), width=info.width, height=info.height,
        )
        run = db.store_prediction_run(session, video, probabilities, parameters, version_id)
        session.flush()
        return ProcessedVideo(video.id, run.id, len(analysis.landmarks),
                              int(analysis.landmarks.face.sum()), predictor.version)


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
    )
