"""Prediction runs: a predictor's per-frame AU probabilities for one video, as one array.

Probabilities are stored as little-endian float32 bytes (a 30-minute 30 fps video with 8 AUs is
1.7 MB), exactly what the predictor produced. The pre-fill labels (smoothed, thresholded) are
computed once when the run is stored and kept beside them as int8 bytes: reading a run's
pre-fill costs no smoothing, and it stays what the coder reviewed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from annotator.smoothing import prefill_labels
from db.models import PredictionRun, Video
from model.constants import au_names

_STORED_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class PredictionParameters:
    """How a run's probabilities become pre-fill labels (stored with the run as JSON)."""

    au_set: str
    thresholds: dict[str, float]  # per AU name
    smoothing_window: int
    predictor: str = "network"  # "network" or "geometry-baseline"
    details: dict = field(default_factory=dict)  # anything else worth keeping (backend, ...)

    def threshold_array(self) -> np.ndarray:
        return np.array([self.thresholds[au] for au in au_names(self.au_set)], dtype=np.float32)

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
) -> PredictionRun:
    """Store (T, K) probabilities, NaN rows = no face; model_version_id None = the baseline."""
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
        model_version_id=model_version_id,
        au_set=parameters.au_set,
        parameters=parameters.to_json(),
        frame_count=video.frame_count,
        probabilities=probabilities.astype(_STORED_DTYPE).tobytes(),
        prefill=prefill_labels(
            probabilities, parameters.threshold_array(), parameters.smoothing_window
        ).tobytes(),
    )
    session.add(run)
    session.flush()
    return run


def latest_prediction_run(session: Session, video_id: int) -> PredictionRun | None:
    return session.scalar(
        select(PredictionRun)
        .where(PredictionRun.video_id == video_id)
        .order_by(PredictionRun.id.desc())
        .limit(1)
    )


def run_probabilities(run: PredictionRun) -> np.ndarray:
    """(T, K) float32 probabilities of a run, NaN rows for no-face frames."""
    aus = au_names(run.au_set)
    flat = np.frombuffer(run.probabilities, dtype=_STORED_DTYPE)
    return flat.reshape(run.frame_count, len(aus)).astype(np.float32)


def run_parameters(run: PredictionRun) -> PredictionParameters:
    return PredictionParameters.from_json(run.parameters)


def run_prefill(run: PredictionRun) -> tuple[np.ndarray, np.ndarray]:
    """A run's pre-fill: (T, K) int8 labels (smoothed, thresholded, -1 without a face) and the
    (T,) bool face mask."""
    shape = (run.frame_count, len(au_names(run.au_set)))
    labels = np.frombuffer(run.prefill, dtype=np.int8).reshape(shape).copy()
    return labels, ~np.isnan(run_probabilities(run)).all(axis=1)
