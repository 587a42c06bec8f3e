"""One fine-tune: the active model (or a new network, when only the geometry baseline exists)
trained on coders' reviewed frames, and both it and its parent measured on held-out videos.

The loop is model.training.fit. Post-processing (smoothing window, per-AU thresholds) is tuned
on the training videos and the kept epoch is chosen on them too; the held-out videos choose
nothing, so their scores are honest. The checkpoint is written inside the job's work folder;
the job's process (annotator.finetune.job) publishes it as a model version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

import db
from annotator.finetune.data import (
    ReviewedVideo,
    memory_loader,
    reviewed_videos,
    split_held_out,
)
from annotator.finetune.options import FinetuneOptions
from model.checkpoint import CHECKPOINT_NAME, load_network, load_predictor, version_label
from model.dataset import VideoSet
from model.formats import DEFAULT_AU_SET
from model.metrics import metric_name, restricted_scores, scored_aus
from model.network import AUNetwork, NetworkConfig
from model.smoothing import PostProcessing, score_probabilities
from model.training import FitInputs, TrainingProgress, fit

logger = logging.getLogger(__name__)

# Called with the training progress, the held-out score after each epoch (else None) and the
# parent predictor's held-out score.
FinetuneProgress = Callable[[TrainingProgress, float | None, float], None]


@dataclass
class FinetunePlan:
    """What the database says before training starts (read in one short transaction)."""

    parent_id: int | None
    parent_path: str | None
    au_set: str
    trained_before: set[str]  # content hashes the parent lineage trained on
    training: list[ReviewedVideo]
    held_out: list[ReviewedVideo]

    @property
    def parent_label(self) -> str:
        return version_label(self.parent_id)


@dataclass(frozen=True)
class FinetuneOutcome:
    checkpoint: Path  # inside the work folder, not yet a model version
    parent_id: int | None
    au_set: str
    metrics: dict  # stored with the model version (see version_metrics)


def plan_finetune(session, options: FinetuneOptions) -> FinetunePlan:
    parent = db.active_model_version(session)
    au_set = parent.au_set if parent is not None else DEFAULT_AU_SET
    trained_before = set(parent.metrics.get("trained_on", [])) if parent is not None else set()
    videos = reviewed_videos(session, au_set, options.coder, options.videos)
    training, held_out = split_held_out(videos, options.held_out, options.held_out_share,
                                        trained_before)
    return FinetunePlan(parent.id if parent else None, parent.path if parent else None, au_set,
                        trained_before, training, held_out)


def run_finetune(
    plan: FinetunePlan, options: FinetuneOptions, work_dir: Path,
    on_progress: FinetuneProgress | None = None, should_stop: Callable[[], bool] | None = None,
) -> FinetuneOutcome:
    """Train and measure; raises model.training.TrainingStopped when `should_stop` says so."""
    parent = load_predictor(plan.parent_path, plan.au_set)
    load = memory_loader(parent.landmark_backend, options.device)
    training = [v.as_video_labels() for v in plan.training]
    held_out = [v.as_video_labels() for v in plan.held_out]
    budget = 10**9  # corrections of a few videos fit in memory; the loader shares features
    train_set = VideoSet(training, load, budget, False, title="training")
    tuning_set = VideoSet(training, load, budget, True, title="tuning")
    held_out_set = VideoSet(held_out, load, budget, True, title="held out")
    held_labels = [entry.labels for entry in held_out_set.entries]
    scored = scored_aus(held_labels, plan.au_set)
    parent_post = PostProcessing(np.asarray(parent.thresholds, np.float32),
                                 int(parent.smoothing_window))
    parent_probabilities = [parent.predict(load(v.video_path)) for v in held_out]
    parent_scores = restricted_scores(
        score_probabilities(parent_probabilities, held_labels, parent_post), plan.au_set, scored
    )
    torch.manual_seed(options.seed)
    network = _starting_network(plan, options, train_set)
    summary = {"training": train_set.summary(), "held_out": held_out_set.summary()}
    inputs = FitInputs(train_set, tuning_set, work_dir / CHECKPOINT_NAME, summary,
                       evaluation_set=held_out_set)

    def report(progress: TrainingProgress) -> None:
        if on_progress is not None:
            held = progress.record and progress.record["evaluation"]
            score = restricted_scores(held, plan.au_set, scored)["score"] if held else None
            on_progress(progress, score, parent_scores["score"])

    config = options.training_config(parent.landmark_backend)
    fitted = fit(network.to(options.device), inputs, config, report, should_stop)
    best = fitted.history[fitted.best_epoch - 1]
    metrics = {
        "metric": metric_name(plan.au_set),
        "new": restricted_scores(best["evaluation"], plan.au_set, scored),
        "parent": {**parent_scores, "predictor": plan.parent_label, "version": parent.version},
        "held_out": _video_record(plan.held_out, held_out_set, scored),
        "training": {
            **_video_record(plan.training, train_set, None),
            "epochs": options.epochs, "best_epoch": fitted.best_epoch,
            "from": plan.parent_label,
            "history": [
                {"epoch": r["epoch"], "loss": r["loss"],
                 "held_out": restricted_scores(r["evaluation"], plan.au_set, scored)["score"]}
                for r in fitted.history
            ],
        },
        "trained_on": sorted(plan.trained_before | {v.content_hash for v in plan.training}),
        "coder": options.coder,
    }
    return FinetuneOutcome(inputs.checkpoint_path, plan.parent_id, plan.au_set, metrics)


def _starting_network(plan: FinetunePlan, options: FinetuneOptions,
                      train_set: VideoSet) -> AUNetwork:
    if plan.parent_path is not None:
        network, _ = load_network(plan.parent_path, plan.au_set)
        return network
    scale = 1.0 / train_set.motion_std if train_set.motion_std > 0 else 1.0
    config = NetworkConfig.from_dict(options.network or {})
    return AUNetwork(replace(config, au_set=plan.au_set, motion_scale=scale))


def _video_record(videos: list[ReviewedVideo], video_set: VideoSet,
                  scored: tuple[str, ...] | None) -> dict:
    record = {
        "videos": [{"id": v.video_id, "name": v.name, "coder": v.coder} for v in videos],
        "frames": int(sum(len(e.labels) for e in video_set.entries)),
        "labelled_frames": int(sum(e.usable.sum() for e in video_set.entries)),
    }
    if scored is not None:
        record["aus"] = list(scored)
    return record
