"""One fine-tune: a new network version that starts from its parent's behaviour, learns from
coders' reviewed frames, and is measured beside its parent on held-out videos.

- Start: the parent network's weights; with only the geometry baseline active, a new network
  distilled from the baseline on a sample of every processed video's face frames
  (model.distillation), so it starts where the baseline stands instead of from nothing.
- Learn: model.training.fit on the training videos' reviewed frames of the AUs those frames
  show both present and absent.
- Stop early on the held-out videos: the starting network (epoch 0) and every epoch are scored
  there, and the best is kept; a later epoch must beat it. An AU keeps the parent's output,
  exactly, unless it was learnt and the held-out frames show the new network doing better on
  it (both scores are sums of per-AU shares, so each AU is chosen on its own), and the
  smoothing window is the new one or the parent's, whichever scores higher; with every AU
  kept, the version is its parent, so it never starts below it. The checkpoint names the
  parent and those AUs (model.checkpoint.NetworkPredictor). Thresholds of the learnt AUs are
  tuned on the training videos; the parent is scored with its own post-processing.

`Finetuning` is this learner behind model.learners' contract (fit on the plan's reviewed frames
with the parent predictor as prior, progress and cancel); `run_finetune` is how the fine-tune
job calls it. The checkpoint is written inside the job's work folder; the job's process
(annotator.jobs.finetune_process) publishes it as a model version. Activating it is a separate
step that refuses a version scoring below its parent (annotator.learning.model_versions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

import db
from annotator.learning.finetune_data import (
    MemoryLoader,
    ReviewedVideo,
    distillation_frames,
    reviewed_videos,
    split_held_out,
)
from annotator.learning.finetune_options import FinetuneError, FinetuneOptions
from annotator.processing.prediction import version_file
from model.au_sets import DEFAULT_AU_SET, NOT_CODED, au_names
from model.checkpoint import (
    CHECKPOINT_NAME,
    NetworkPredictor,
    load_network,
    parent_reference,
    read_checkpoint,
    save_checkpoint,
)
from model.dataset import VideoLabels, VideoSet
from model.distillation import distil
from model.features import FeatureConfig
from model.learners import LearnStep, Progress, no_progress
from model.metrics import au_contributions, metric_name, restricted_scores, scored_aus
from model.network import AUNetwork, NetworkConfig
from model.predictors import AUPredictor, load_predictor, version_label
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
    processed: list[Path]  # every processed video: the baseline is distilled on them

    @property
    def parent_label(self) -> str:
        return version_label(self.parent_id)


@dataclass(frozen=True)
class FinetuneOutcome:
    checkpoint: Path  # inside the work folder, not yet a model version
    parent_id: int | None
    au_set: str
    metrics: dict  # stored with the model version
    learnt_aus: list[str]  # the AUs whose output is the new network's; the others the parent's


def plan_finetune(session, options: FinetuneOptions) -> FinetunePlan:
    parent = db.active_model_version(session)
    au_set = parent.au_set if parent is not None else DEFAULT_AU_SET
    trained_before = set(parent.metrics.get("trained_on", [])) if parent is not None else set()
    videos = reviewed_videos(session, au_set, options.coder, options.videos)
    training, held_out = split_held_out(videos, options.held_out, options.held_out_share,
                                        trained_before)
    learnable_aus(training, au_set)  # refuses now, before a job starts, when nothing can learn
    processed = [Path(video.path) for video in db.processed_videos(session)]
    parent_path = str(version_file(session, parent)) if parent is not None else None
    return FinetunePlan(parent.id if parent else None, parent_path, au_set,
                        trained_before, training, held_out, processed)


def learnable_aus(training: list[ReviewedVideo], au_set: str) -> tuple[str, ...]:
    """The AUs the training videos' reviewed frames show both present and absent."""
    labels = np.concatenate([video.labels for video in training])
    learned = tuple(au for k, au in enumerate(au_names(au_set))
                    if (labels[:, k] == 1).any() and (labels[:, k] == 0).any())
    if not learned:
        raise FinetuneError("the training videos' reviewed frames show no AU both present and "
                            "absent, so there is nothing to learn that the active predictor "
                            "does not already do; review frames where an AU changes")
    return learned


@dataclass(frozen=True)
class FinetuneStep:
    """A fine-tune's LearnStep detail while the network trains."""

    training: TrainingProgress
    held_out: float | None  # the held-out score after an epoch, else None
    parent: float  # the parent predictor's held-out score


class Finetuning:
    """The learner (model.learners.Learner) across videos: `fit(plan, parent, progress)` trains
    a network version from the parent predictor on the plan's training videos and measures it
    beside the parent on the held-out ones (see the module's account). Progress hears of every
    training batch (its detail a FinetuneStep); asked to stop, it stops before the next batch
    with model.training.TrainingStopped, a LearningCancelled, and the checkpoint in the work
    folder is left for the caller to remove."""

    kind = NetworkPredictor.kind

    def __init__(self, options: FinetuneOptions, work_dir: Path):
        self.options, self.work_dir = options, work_dir

    def fit(self, reviewed: FinetunePlan, prior: AUPredictor,
            progress: Progress = no_progress) -> FinetuneOutcome:
        return _finetune(reviewed, prior, self.options, self.work_dir, _Watch(progress))


def run_finetune(
    plan: FinetunePlan, options: FinetuneOptions, work_dir: Path,
    on_progress: FinetuneProgress | None = None, should_stop: Callable[[], bool] | None = None,
    on_stage: Callable[[LearnStep], None] | None = None,
) -> FinetuneOutcome:
    """Finetuning's fit from the plan's parent; raises model.training.TrainingStopped when
    `should_stop` says so. `on_progress` hears of the training's batches and epochs,
    `on_stage` of every other step (reading the frames, distilling the parent)."""

    def progress(step: LearnStep) -> bool:
        if isinstance(step.detail, FinetuneStep):
            if on_progress is not None:
                on_progress(step.detail.training, step.detail.held_out, step.detail.parent)
        elif on_stage is not None:
            on_stage(step)
        return should_stop is not None and should_stop()

    parent = load_predictor(plan.parent_path, plan.au_set)
    return Finetuning(options, work_dir).fit(plan, parent, progress)


class _Watch:
    """A Progress as model.training's two hooks: each report reaches it (`tell`), and before
    every batch it is asked whether to stop (`stop`) with the stage last told."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.step = LearnStep(0.0, "starting")
        self.stopping = False

    def tell(self, step: LearnStep) -> None:
        self.step = step
        self.stopping = self.progress(step) or self.stopping

    def stop(self) -> bool:
        self.stopping = self.stopping or self.progress(LearnStep(self.step.fraction,
                                                                 self.step.stage))
        return self.stopping


def _finetune(plan: FinetunePlan, parent: AUPredictor, options: FinetuneOptions,
              work_dir: Path, watch: _Watch) -> FinetuneOutcome:
    """Train and measure; raises model.training.TrainingStopped when `watch` says stop."""
    # a network parent trained on other feature settings (landmark window, points) keeps them
    features = parent.info.features if isinstance(parent, NetworkPredictor) else None
    load = MemoryLoader(parent.landmark_backend, options.device, features)
    learned = learnable_aus(plan.training, plan.au_set)
    unlearnt = [k for k, au in enumerate(au_names(plan.au_set)) if au not in learned]
    training = [_only(v.as_video_labels(), unlearnt) for v in plan.training]
    budget = 10**9  # corrections of a few videos fit in memory; the loader shares features
    train_set = VideoSet(training, load, budget, False, title="training")
    tuning_set = VideoSet(training, load, budget, True, title="tuning")
    held_out_set = VideoSet([v.as_video_labels() for v in plan.held_out], load, budget, True,
                            title="held out")
    held_labels = [entry.labels for entry in held_out_set.entries]
    scored = scored_aus(held_labels, plan.au_set)
    parent_held = [parent.predict(load(v.path, v.person)) for v in plan.held_out]
    parent_post = PostProcessing(np.asarray(parent.thresholds, np.float32),
                                 int(parent.smoothing_window))
    parent_scores = restricted_scores(
        score_probabilities(parent_held, held_labels, parent_post), plan.au_set, scored)
    torch.manual_seed(options.seed)
    network = _starting_network(plan, options, parent, train_set, load, watch)
    learnt = [k for k, au in enumerate(au_names(plan.au_set)) if au in learned and au in scored]
    choices: list[_Choice] = []  # per epoch, from epoch 0

    def choose(held_out: list[np.ndarray], post: PostProcessing) -> float:
        choices.append(_best_composite(held_out, parent_held, held_labels, post, parent_post,
                                       learnt, plan.au_set, scored))
        return choices[-1].scores["score"]

    def report(progress: TrainingProgress) -> None:
        score = choices[-1].scores["score"] if progress.record else None
        watch.tell(LearnStep(progress.fraction, f"training, epoch {progress.epoch}",
                             FinetuneStep(progress, score, parent_scores["score"])))

    summary = {"training": train_set.summary(), "held_out": held_out_set.summary()}
    inputs = FitInputs(train_set, tuning_set, work_dir / CHECKPOINT_NAME, summary,
                       evaluation_set=held_out_set, choose=choose,
                       features=features or FeatureConfig())
    config = options.training_config(parent.landmark_backend)
    watch.tell(LearnStep(0.0, "training"))
    fitted = fit(network.to(options.device), inputs, config, report, watch.stop)
    chosen = choices[fitted.best_epoch]
    _record_parent(inputs.checkpoint_path, plan, chosen)
    aus = au_names(plan.au_set)
    metrics = {
        "metric": metric_name(plan.au_set),
        "new": chosen.scores,
        "parent": {**parent_scores, "predictor": plan.parent_label, "version": parent.version},
        "held_out": _video_record(plan.held_out, held_out_set, scored),
        "training": {
            **_video_record(plan.training, train_set, None),
            "epochs": options.epochs, "best_epoch": fitted.best_epoch,
            "from": plan.parent_label, "learned_aus": list(learned),
            "kept_from_parent": [aus[k] for k in chosen.kept],
            "history": [{"epoch": r["epoch"], "loss": r["loss"], "held_out": c.scores["score"]}
                        for r, c in zip(fitted.history, choices, strict=True)],
        },
        "trained_on": sorted(plan.trained_before | {v.content_hash for v in plan.training}),
        "coder": options.coder,
    }
    learnt = [au for au in learned if aus.index(au) not in chosen.kept]
    return FinetuneOutcome(inputs.checkpoint_path, plan.parent_id, plan.au_set, metrics, learnt)


def _only(video: VideoLabels, kept: list[int]) -> VideoLabels:
    """The video's labels without the AUs kept from the parent (they do not train)."""
    labels = video.labels.copy()
    labels[:, kept] = NOT_CODED
    return replace(video, labels=labels)


@dataclass(frozen=True)
class _Choice:
    """One epoch's version as it would be stored: the network, with some AUs from the parent."""

    scores: dict  # restricted held-out scores (model.metrics.restricted_scores)
    kept: tuple[int, ...]  # AU columns whose output is the parent's
    thresholds: np.ndarray  # (K,) the new thresholds, the parent's where kept
    window: int


def _best_composite(new: list[np.ndarray], parent: list[np.ndarray], labels: list[np.ndarray],
                    post: PostProcessing, parent_post: PostProcessing, learnt: list[int],
                    au_set: str, scored: tuple[str, ...]) -> _Choice:
    """The network with each AU from whichever of it and the parent does better on the
    held-out frames (only learnt AUs may come from the network), under the network's or the
    parent's smoothing window, whichever scores higher."""
    best = None
    for window in dict.fromkeys((post.smoothing_window, parent_post.smoothing_window)):
        mine = score_probabilities(new, labels, PostProcessing(post.thresholds, window))
        theirs = score_probabilities(parent, labels, PostProcessing(parent_post.thresholds, window))
        gain = au_contributions(mine, au_set, scored) - au_contributions(theirs, au_set, scored)
        kept = tuple(k for k in range(len(gain)) if k not in learnt or gain[k] <= 0)
        thresholds = np.asarray(post.thresholds, np.float32).copy()
        thresholds[list(kept)] = np.asarray(parent_post.thresholds, np.float32)[list(kept)]
        merged = []
        for network_output, parent_output in zip(new, parent, strict=True):
            both = network_output.copy()
            both[:, kept] = parent_output[:, kept]
            merged.append(both)
        scores = restricted_scores(
            score_probabilities(merged, labels, PostProcessing(thresholds, window)), au_set, scored)
        if best is None or scores["score"] > best.scores["score"]:
            best = _Choice(scores, kept, thresholds, window)
    return best


def _record_parent(path: Path, plan: FinetunePlan, chosen: _Choice) -> None:
    """Name the parent and the AUs kept from it in the kept checkpoint, with the chosen
    thresholds and smoothing window."""
    info, weights = read_checkpoint(path)
    aus = au_names(plan.au_set)
    info = replace(info, thresholds=chosen.thresholds, smoothing_window=chosen.window,
                   parent_aus=[aus[k] for k in chosen.kept],
                   parent=parent_reference(plan.parent_path))
    network = AUNetwork(info.config)
    network.load_state_dict(weights)
    save_checkpoint(path, network, info)


def _starting_network(plan: FinetunePlan, options: FinetuneOptions, parent: AUPredictor,
                      train_set: VideoSet, load, watch: _Watch) -> AUNetwork:
    if plan.parent_path is not None:
        network, _ = load_network(plan.parent_path, plan.au_set)
        return network
    scale = 1.0 / train_set.motion_std if train_set.motion_std > 0 else 1.0
    config = NetworkConfig.from_dict(options.network or {})
    network = AUNetwork(replace(config, au_set=plan.au_set, motion_scale=scale))
    network.to(options.device)
    stage = f"distilling the {plan.parent_label}"
    watch.tell(LearnStep(0.0, f"{stage}: reading its pre-fill of every processed video"))
    images, motion, teacher = distillation_frames(plan.processed, parent, load)
    watch.tell(LearnStep(0.0, stage))
    losses = distil(network, images, motion, teacher, options.distil_epochs,
                    options.batch_size, options.learning_rate, options.seed, watch.stop,
                    lambda progress: watch.tell(LearnStep(progress.fraction, stage, progress)))
    logger.info("distilled the %s on %d frames: loss %s", plan.parent_label, len(teacher),
                [round(loss, 4) for loss in losses])
    return network


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
