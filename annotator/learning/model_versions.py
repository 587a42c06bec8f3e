"""Model versions made by fine-tuning: where their files live, how two compare, and
activating one (or rolling back), which re-runs the pre-fill on frames still unreviewed.

Files: `models/` next to the SQLite database file (`annotations.sqlite3` → `models/`), or
`models/` in the per-user data folder for other databases (PostgreSQL). A version's file is
linked into place under a new name and never overwritten; the database keeps a copy of it, which
other hosts load (annotator.processing.prediction.version_file).

Activation stores a new prediction run per video. A video's effective labels are the coder's
corrections over its latest run's pre-fill, so frames a coder reviewed keep their values and
only unreviewed frames change; corrections are never written. Videos every one of whose coders
reviewed every frame and AU keep their run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import db
from annotator.learning.finetune_options import FinetuneError
from annotator.processing.extraction import ProgressCallback, features_for_video
from annotator.processing.prediction import prediction_parameters, version_file
from annotator.services.context import Services
from model.errors import InputError
from model.predictors import AUPredictor, load_predictor, version_label

logger = logging.getLogger(__name__)

def publish_checkpoint(work_file: Path, folder: Path, job_id: int) -> Path:
    """Hard-link the finished checkpoint under a new name; an existing file is never replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    final = folder / f"finetune-{stamp}-job{job_id}.safetensors"
    os.link(work_file, final)  # FileExistsError rather than overwriting
    return final


@dataclass(frozen=True)
class VersionComparison:
    """A fine-tuned version against its parent on the same held-out frames."""

    version_id: int
    parent_id: int | None
    parent_label: str  # "geometry + expression baseline" or "version N"
    active: bool
    created_at: datetime
    metric: str  # "abaw2020" (8 AUs) or "mean_f1" (12 AUs)
    new: dict | None  # score, abaw2020, mean_f1, accuracy, per_au_f1 (None: AU not scored)
    parent: dict | None
    held_out_videos: list[str]
    held_out_frames: int  # frames with a reviewed label in the held-out videos
    training_videos: list[str]

    @property
    def measured(self) -> bool:
        return self.new is not None and self.parent is not None

    @property
    def at_least_parent(self) -> bool:
        """Held-out score at least the parent's: the condition for activating it unforced."""
        return self.measured and self.new["score"] >= self.parent["score"]

    def refusal(self) -> str:
        """Why activating this version needs forcing (empty when it does not)."""
        if not self.measured or self.at_least_parent:
            return ""
        return (f"version {self.version_id} scores {self.new['score']:.3f} on the held-out "
                f"frames, below its parent ({self.parent_label}) at "
                f"{self.parent['score']:.3f}")


def compare_versions(services: Services, version_id: int) -> VersionComparison:
    with services.store.write() as session:
        version = db.get_model_version(session, version_id)
        if version is None:
            raise FinetuneError(f"no model version {version_id}")
        return _comparison(version)


def version_history(services: Services) -> list[VersionComparison]:
    """Every model version, newest first (versions not made by fine-tuning lack scores)."""
    with services.store.write() as session:
        return [_comparison(v) for v in reversed(db.list_model_versions(session))]


def _comparison(version: db.ModelVersion) -> VersionComparison:
    metrics = version.metrics or {}
    held, training = metrics.get("held_out", {}), metrics.get("training", {})
    return VersionComparison(
        version_id=version.id,
        parent_id=version.parent_id,
        parent_label=version_label(version.parent_id),
        active=bool(version.active),
        created_at=version.created_at,
        metric=metrics.get("metric", "abaw2020"),
        new=metrics.get("new"),
        parent=metrics.get("parent"),
        held_out_videos=[v["name"] for v in held.get("videos", [])],
        held_out_frames=int(held.get("labelled_frames", 0)),
        training_videos=[v["name"] for v in training.get("videos", [])],
    )


@dataclass(frozen=True)
class ActivationResult:
    version_id: int | None  # None: the geometry baseline pre-fills
    refreshed_videos: list[int]  # a new prediction run was stored
    kept_videos: list[int]  # fully reviewed: their run was left as it was
    missing_videos: list[int]  # video file not found: not re-run


class ActivationRefused(FinetuneError):
    """The version scores below its parent on its held-out frames; only forced activation."""


def activate_version(
    services: Services, version_id: int | None,
    on_progress: ProgressCallback | None = None, force: bool = False,
) -> ActivationResult:
    """Make `version_id` the active model (None: the geometry baseline) and re-run the
    pre-fill of every subject (of every video) that still has unreviewed frames. The runs and
    the switch are stored in one transaction: a failure before it leaves everything as it was.

    A fine-tuned version scoring below its parent on its held-out frames is refused
    (ActivationRefused) unless `force`."""
    with services.store.write() as session:
        path, au_set = None, None
        if version_id is not None:
            version = db.get_model_version(session, version_id)
            if version is None:
                raise FinetuneError(f"no model version {version_id}")
            refusal = _comparison(version).refusal()
            if refusal and not force:
                raise ActivationRefused(f"{refusal}; it stays inactive (force to activate it "
                                        "anyway)")
            path, au_set = version_file(session, version), version.au_set
        videos = [(v.id, Path(v.path), v.frame_count) for v in db.list_videos(session)]
    predictor = load_predictor(path, au_set)
    with services.store.write() as session:
        # the subjects each video pre-fills, and of those the ones still partly unreviewed
        subjects = {vid: sorted(db.prefilled_subjects(session, vid)) or [1]
                    for vid, _, _ in videos}
        open_subjects = {vid: [n for n in numbers
                               if not db.fully_reviewed(session, vid, predictor.au_set, n)]
                         for vid, numbers in subjects.items()}
    kept = [vid for vid, _, _ in videos if not open_subjects[vid]]
    runs, missing = {}, []
    todo = [(vid, p, n) for vid, p, n in videos if vid not in kept]
    for number, (video_id, video_path, frames) in enumerate(todo, start=1):
        found = {subject: _probabilities(predictor, video_path, frames, subject)
                 for subject in open_subjects[video_id]}
        if any(probabilities is None for probabilities in found.values()):
            missing.append(video_id)
        else:
            runs[video_id] = found
        if on_progress is not None:
            on_progress(number, len(todo))
    parameters = prediction_parameters(predictor)
    with services.store.write() as session:
        if version_id is None:
            db.deactivate_model_versions(session)
        else:
            db.activate_model_version(session, version_id)
        for video_id, found in runs.items():
            video = db.get_video(session, video_id)
            for subject, probabilities in found.items():
                db.store_prediction_run(session, video, probabilities, parameters, version_id,
                                        subject)
    logger.info("activated %s: pre-fill re-run on %d videos, %d fully reviewed kept, %d missing",
                version_label(version_id), len(runs), len(kept), len(missing))
    return ActivationResult(version_id, sorted(runs), kept, missing)


def rollback(services: Services,
             on_progress: ProgressCallback | None = None) -> ActivationResult:
    """Activate the active version's parent (the geometry baseline for a first version)."""
    with services.store.write() as session:
        active = db.active_model_version(session)
        if active is None:
            raise FinetuneError("no model version is active; the geometry + expression "
                                "baseline already pre-fills, there is nothing to roll back")
        parent_id = active.parent_id
    return activate_version(services, parent_id, on_progress)


def _probabilities(predictor: AUPredictor, path: Path, frames: int,
                   subject: int) -> np.ndarray | None:
    if not path.is_file():
        logger.warning("%s: video file not found; its pre-fill is not re-run", path)
        return None
    try:
        features = features_for_video(path, predictor.landmark_backend, subject=subject)
    except InputError as error:  # a bad file, or a subject the landmarks lack
        logger.warning("%s; its pre-fill is not re-run", error)
        return None
    if len(features.face) != frames:
        logger.warning("%s: decodes %d frames, the database has %d; pre-fill not re-run",
                       path, len(features.face), frames)
        return None
    return predictor.predict(features)
