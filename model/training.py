"""Training the seed network, keeping the best checkpoint on the videos that tune it.

`fit` is the loop itself, on any pair of VideoSets (an Aff-Wild2 folder's splits, or coders'
corrections from the database: annotator.learning.finetuning): each epoch is one pass over the
usable training frames in random order (weighted cross-entropy), then the tuning videos are
predicted, the smoothing window and per-AU thresholds are tuned on them, and the checkpoint is
replaced when the AU set's challenge score improved. `train` runs it on an Aff-Wild2 folder.

Which videos tune is the honest-number question. By default they are the validation split, as
in the seed paper: its 0.56 was chosen (epoch, window, thresholds) on the split it reports, so
that figure is comparable but not held out. With `tune_split` > 0 a share of the training
videos (whole videos) tunes instead, and validation is scored untouched; the figure comparable
to the paper (everything chosen on validation) is still recorded beside it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.affwild2 import TrainingData, infer_au_set
from model.au_sets import au_names
from model.checkpoint import CHECKPOINT_NAME, CheckpointInfo, save_checkpoint
from model.dataset import FeatureLoader, VideoSet
from model.errors import InputError
from model.features import FeatureConfig
from model.files import write_text_atomically
from model.learners import LearningCancelled
from model.metrics import metric_name, metric_value
from model.network import (
    AUNetwork,
    NetworkConfig,
    au_loss,
    batch_tensors,
    positive_weights,
    predict_probabilities,
)
from model.smoothing import (
    SMOOTHING_WINDOWS,
    THRESHOLD_GRID,
    PostProcessing,
    label_prior_baseline,
    score_probabilities,
    tune_postprocessing,
)

logger = logging.getLogger(__name__)

TRAINING_LOG_NAME = "training_log.json"


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    # Positive-class weight per AU is (negatives / positives) from the training labels, capped
    # so an AU with a handful of positives cannot dominate the loss.
    max_positive_weight: float = 20.0
    # Videos are loaded a chunk at a time so the crops of a large data set never all sit in memory.
    frames_per_chunk: int = 50_000
    smoothing_windows: tuple[int, ...] = SMOOTHING_WINDOWS
    threshold_grid: tuple[float, ...] = THRESHOLD_GRID
    hold_frames: int = 0  # each positive held this many frames after smoothing (reference: 3)
    # Share of the training videos (whole videos) held out to choose the epoch, window and
    # thresholds; 0 chooses them on validation, as the seed paper did.
    tune_split: float = 0.0
    landmark_backend: str = "dlib"
    device: str = "cpu"  # for landmarks ("fan" wants "cuda") and for the network itself

    def __post_init__(self) -> None:
        if not 0.0 <= self.tune_split < 1.0:
            raise ValueError(f"tune split must be at least 0 and below 1, not {self.tune_split}")
        if self.hold_frames < 0:
            raise ValueError(f"hold frames must be 0 or more, not {self.hold_frames}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingResult:
    checkpoint: Path
    au_set: str
    metric: str  # "abaw2020" or "mean_f1"
    best_score: float  # the kept checkpoint's score on the videos that chose it
    best_epoch: int
    baseline_score: float  # best constant prediction per AU on validation
    history: list[dict]
    # The kept checkpoint's validation score: held out when tuned_on["split"] is "train", the
    # same as best_score when it is "validation".
    validation_score: float
    # Epoch, window and thresholds all chosen on validation, as the paper did: comparable to its
    # 0.56, never held out.
    paper_protocol_score: float
    tuned_on: dict  # {"split": "validation"} or {"split": "train", "tune_split", "videos"}
    skipped: dict[str, str]  # label file → why it was not used
    adjusted: dict[str, str]  # label file → what was done to use it


@dataclass(frozen=True)
class TrainingProgress:
    """Where `fit` stands: after every batch, and with `record` (scores) after every epoch."""

    epoch: int
    epochs: int
    frames_done: int  # usable training frames seen in this epoch
    frames_total: int  # usable training frames per epoch
    loss: float  # mean batch loss so far in this epoch
    record: dict | None = None  # the epoch's history entry, once validated

    @property
    def fraction(self) -> float:
        """0..1 over all epochs."""
        done = (self.epoch - 1) * self.frames_total + self.frames_done
        return done / max(self.epochs * self.frames_total, 1)


class TrainingStopped(LearningCancelled):
    """`should_stop` said stop: the caller decides what happens to a checkpoint already kept."""


@dataclass
class FitResult:
    best_score: float  # the kept checkpoint's score on the tuning videos (-1 if none was kept)
    best_epoch: int
    history: list[dict]


@dataclass
class FitInputs:
    """What `fit` trains on and how it records the kept checkpoint."""

    train_set: VideoSet  # usable frames only (whole_videos=False)
    # Whole videos that tune post-processing and pick the kept epoch: the validation split, or
    # training videos held out for it (then set_names says so).
    validation_set: VideoSet
    checkpoint_path: Path
    data_summary: dict
    extra_metrics: dict = field(default_factory=dict)  # stored with the checkpoint's metrics
    # Whole videos scored after each epoch with the post-processing tuned on validation_set
    # (and, for comparison, tuned on themselves); they choose nothing unless `choose` is given,
    # so their first score is an honest held-out figure.
    evaluation_set: VideoSet | None = None
    # Fine-tuning stops early on held-out videos: `choose(evaluation probabilities, tuned
    # post-processing)` gives each epoch's score, the starting network (epoch 0) competes too,
    # and a later epoch must beat the best so far to be kept.
    choose: Callable[[list[np.ndarray], PostProcessing], float] | None = None
    # What the history records call validation_set and evaluation_set.
    set_names: tuple[str, str] = ("validation", "evaluation")
    features: FeatureConfig = field(default_factory=FeatureConfig)  # the loader's, recorded


def train(
    data_dir: str | Path,
    out_dir: str | Path,
    load_features: FeatureLoader,
    au_set: str | None = None,
    config: TrainingConfig | None = None,
    network_config: NetworkConfig | None = None,
    progress: bool = False,
    features: FeatureConfig | None = None,
) -> TrainingResult:
    """Train on DIR's training split, tune each epoch, write OUT/model.safetensors (best).

    `load_features(video_path)` gives a video's features made as `features` says (the
    application passes its cached pipeline, so this layer never decodes videos itself)."""
    config, features = config or TrainingConfig(), features or FeatureConfig()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    au_set = au_set or infer_au_set(data_dir)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    if checkpoint_path.exists():
        raise InputError(checkpoint_path, "already exists; choose a new --out folder")
    data = TrainingData(data_dir, au_set, load_features, config.tune_split, config.seed,
                        config.frames_per_chunk, progress)
    baseline = label_prior_baseline([entry.labels for entry in data.validation.entries], au_set)
    logger.info("data: %s", data.summary)

    torch.manual_seed(config.seed)
    scale = 1.0 / data.train.motion_std if data.train.motion_std > 0 else 1.0
    network_config = replace(network_config or NetworkConfig(), au_set=au_set, motion_scale=scale,
                             motion_size=features.motion_size, crop_size=features.crop_size)
    network = AUNetwork(network_config).to(config.device)
    extra = {"label_prior_baseline": baseline.as_dict(au_names(au_set)),
             "tuned_on": data.tuned_on}
    if data.tuning is None:
        inputs = FitInputs(data.train, data.validation, checkpoint_path, data.summary, extra,
                           features=features)
    else:
        inputs = FitInputs(data.train, data.tuning, checkpoint_path, data.summary, extra,
                           evaluation_set=data.validation, set_names=("tuning", "validation"),
                           features=features)
    fitted = fit(network, inputs, config, progress=progress)
    metric = metric_name(au_set)
    kept = next(record for record in fitted.history if record["epoch"] == fitted.best_epoch)
    paper = max(record.get("validation_tuned", record["validation"])[metric]
                for record in fitted.history)
    result = TrainingResult(
        checkpoint_path, au_set, metric, fitted.best_score, fitted.best_epoch,
        metric_value(baseline, au_set), fitted.history, kept["validation"][metric], paper,
        data.tuned_on, data.skipped, data.adjusted,
    )
    _write_log(out_dir / TRAINING_LOG_NAME, result, data.summary)
    return result


def fit(
    network: AUNetwork,
    inputs: FitInputs,
    config: TrainingConfig,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = False,
) -> FitResult:
    """Train `network` (new or loaded) for config.epochs; keep the best epoch's checkpoint.

    Each epoch: one pass over the usable training frames in random order, then the tuning
    videos (inputs.validation_set) with tuned post-processing; when their score (or
    `inputs.choose`'s) improves, the checkpoint is written (atomically) with those thresholds.
    `should_stop` is asked between batches; when it says so, TrainingStopped is raised.
    """
    au_set = network.config.au_set
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    weights = positive_weights(inputs.train_set.usable_labels(), config.max_positive_weight)
    weights = torch.from_numpy(weights).to(config.device)
    epoch_loop = _EpochLoop(network, optimizer, weights, config, on_progress, should_stop)
    history: list[dict] = []
    best_score, best_epoch = -1.0, 0
    first = 0 if inputs.choose is not None else 1
    for epoch in range(first, config.epochs + 1):
        loss = epoch_loop.run(inputs.train_set, rng, epoch, progress) if epoch else None
        record, post, held_out = _validate(network, inputs, au_set, config, progress)
        history.append({"epoch": epoch, "loss": loss, **record})
        if inputs.choose is not None:
            score = record["chosen_by"] = inputs.choose(held_out, post)
        else:
            score = record[inputs.set_names[0]][metric_name(au_set)]
        logger.info("epoch %d: loss %s, %s %.4f", epoch, "—" if loss is None else f"{loss:.4f}",
                    metric_name(au_set), score)
        if score > best_score:
            best_score, best_epoch = score, epoch
            metrics = {**history[-1], "metric": metric_name(au_set), **inputs.extra_metrics}
            info = CheckpointInfo(
                network.config, post.thresholds, post.smoothing_window, config.landmark_backend,
                data_summary=inputs.data_summary, metrics=metrics, training=config.to_dict(),
                feature_key=inputs.features.key(), features=inputs.features,
                hold_frames=post.hold_frames,
            )
            save_checkpoint(inputs.checkpoint_path, network, info)
        if on_progress is not None and epoch:
            on_progress(epoch_loop.status(epoch, loss, history[-1]))
    return FitResult(best_score, best_epoch, history)


def _validate(
    network: AUNetwork, inputs: FitInputs, au_set: str, config: TrainingConfig, progress: bool,
) -> tuple[dict, PostProcessing, list[np.ndarray] | None]:
    """Scores of the tuning videos (validation_set) with post-processing tuned on them, and
    without (0.5, no smoothing); when there is an evaluation set, its scores with that
    post-processing (held out) and with its own (tuned on itself), and its probabilities."""
    tuning, evaluation = inputs.set_names
    tune = (au_set, config.smoothing_windows, config.threshold_grid, config.hold_frames)
    labels = [entry.labels for entry in inputs.validation_set.entries]
    probabilities = _predict_videos(network, inputs.validation_set, progress)
    post, scores = tune_postprocessing(probabilities, labels, *tune)
    plain = PostProcessing(np.full(len(post.thresholds), 0.5, dtype=np.float32), 1)
    untuned = score_probabilities(probabilities, labels, plain)
    aus = au_names(au_set)
    record = {
        tuning: scores.as_dict(aus),
        f"{tuning}_untuned": untuned.as_dict(aus),
        "thresholds": [float(t) for t in post.thresholds],
        "smoothing_window": post.smoothing_window,
        "hold_frames": post.hold_frames,
    }
    held_out = None
    if inputs.evaluation_set is not None:
        held_out = _predict_videos(network, inputs.evaluation_set, progress)
        labels = [entry.labels for entry in inputs.evaluation_set.entries]
        record[evaluation] = score_probabilities(held_out, labels, post).as_dict(aus)
        record[f"{evaluation}_tuned"] = tune_postprocessing(held_out, labels, *tune)[1].as_dict(aus)
    return record, post, held_out


class _EpochLoop:
    """One pass over all usable training frames, reporting progress and honouring stops."""

    def __init__(
        self, network: AUNetwork, optimizer: torch.optim.Optimizer, weights: torch.Tensor,
        config: TrainingConfig, on_progress: Callable[[TrainingProgress], None] | None,
        should_stop: Callable[[], bool] | None,
    ):
        self.network, self.optimizer, self.weights = network, optimizer, weights
        self.config, self.on_progress, self.should_stop = config, on_progress, should_stop
        self.frames_total = self.frames_done = 0

    def status(self, epoch: int, loss: float, record: dict | None = None) -> TrainingProgress:
        return TrainingProgress(epoch, self.config.epochs, self.frames_done, self.frames_total,
                                loss, record)

    def run(self, train_set: VideoSet, rng: np.random.Generator, epoch: int,
            progress: bool) -> float:
        """The epoch's mean batch loss."""
        config, network = self.config, self.network
        network.train()
        total, batches = 0.0, 0
        self.frames_total = sum(int(entry.usable.sum()) for entry in train_set.entries)
        self.frames_done = 0
        bar = tqdm(total=self.frames_total, desc=f"epoch {epoch}/{config.epochs}", unit="frame",
                   disable=not progress)
        for group in train_set.chunks(rng):
            images, motion, labels = train_set.training_frames(group)
            order = rng.permutation(len(labels))
            for start in range(0, len(order), config.batch_size):
                if self.should_stop is not None and self.should_stop():
                    bar.close()
                    raise TrainingStopped(f"stopped in epoch {epoch}")
                chosen = np.sort(order[start : start + config.batch_size])
                inputs = [t.to(config.device) for t in batch_tensors(images[chosen],
                                                                     motion[chosen])]
                targets = torch.from_numpy(labels[chosen]).to(config.device)
                loss = au_loss(network(*inputs), targets, self.weights)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                total, batches = total + loss.item(), batches + 1
                self.frames_done += len(chosen)
                bar.update(len(chosen))
                if self.on_progress is not None:
                    self.on_progress(self.status(epoch, total / batches))
        bar.close()
        return total / max(batches, 1)


def _predict_videos(network: AUNetwork, video_set: VideoSet, progress: bool) -> list[np.ndarray]:
    probabilities = []
    for index in tqdm(range(len(video_set.entries)), desc="validation", disable=not progress):
        features = video_set.features(index)
        probabilities.append(
            predict_probabilities(network, features.images, features.motion, features.face)
        )
    return probabilities


def _write_log(path: Path, result: TrainingResult, summary: dict) -> None:
    log = {
        "au_set": result.au_set,
        "metric": result.metric,
        "best_epoch": result.best_epoch,
        "best_score": result.best_score,
        "tuned_on": result.tuned_on,
        "validation_score": result.validation_score,
        "paper_protocol_score": result.paper_protocol_score,
        "label_prior_baseline": result.baseline_score,
        "data_summary": summary,
        "history": result.history,
    }
    write_text_atomically(path, json.dumps(log, indent=2))
