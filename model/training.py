"""Training the seed network on an Aff-Wild2 folder, keeping the best checkpoint on validation.

Each epoch: one pass over the usable training frames in random order (weighted cross-entropy),
then the validation videos are predicted, the smoothing window and per-AU thresholds are tuned
on them, and the checkpoint is replaced when the AU set's challenge score improved.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from annotator.errors import InputError
from model.affwild2 import infer_au_set, read_split
from model.checkpoint import CHECKPOINT_NAME, CheckpointInfo, save_checkpoint
from model.config import NetworkConfig, TrainingConfig
from model.constants import au_names
from model.dataset import FeatureLoader, VideoSet, feature_loader
from model.losses import au_loss, positive_weights
from model.network import AUNetwork, batch_tensors, predict_probabilities
from model.tuning import (
    PostProcessing,
    label_prior_baseline,
    metric_name,
    metric_value,
    score_probabilities,
    tune_postprocessing,
)

logger = logging.getLogger(__name__)

TRAINING_LOG_NAME = "training_log.json"


@dataclass
class TrainingResult:
    checkpoint: Path
    au_set: str
    metric: str  # "abaw2020" or "mean_f1"
    best_score: float  # tuned validation score of the kept checkpoint
    best_epoch: int
    baseline_score: float  # best constant prediction per AU on validation
    history: list[dict]


def train(
    data_dir: str | Path,
    out_dir: str | Path,
    au_set: str | None = None,
    config: TrainingConfig | None = None,
    network_config: NetworkConfig | None = None,
    load_features: FeatureLoader | None = None,
    progress: bool = False,
) -> TrainingResult:
    """Train on DIR's training split, validate each epoch, write OUT/model.safetensors (best)."""
    config = config or TrainingConfig()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    au_set = au_set or infer_au_set(data_dir)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    if checkpoint_path.exists():
        raise InputError(checkpoint_path, "already exists; choose a new --out folder")
    load = load_features or feature_loader(config.landmark_backend, config.device)
    budget = config.frames_per_chunk
    train_set = VideoSet(read_split(data_dir, "train", au_set), load, budget, False, progress)
    val_set = VideoSet(read_split(data_dir, "validation", au_set), load, budget, True, progress)
    val_labels = [entry.labels for entry in val_set.entries]
    summary = {"train": train_set.summary(), "validation": val_set.summary()}
    baseline = label_prior_baseline(val_labels, au_set)
    logger.info("data: %s", summary)

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    scale = 1.0 / train_set.motion_std if train_set.motion_std > 0 else 1.0
    network_config = replace(network_config or NetworkConfig(), au_set=au_set, motion_scale=scale)
    network = AUNetwork(network_config).to(config.device)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    cap = config.max_positive_weight
    weights = torch.from_numpy(positive_weights(train_set.usable_labels(), cap)).to(config.device)

    history: list[dict] = []
    best_score, best_epoch = -1.0, 0
    for epoch in range(1, config.epochs + 1):
        loss = _train_epoch(network, optimizer, train_set, weights, config, rng, epoch, progress)
        record, post = _validate(network, val_set, val_labels, au_set, config, progress)
        history.append({"epoch": epoch, "loss": loss, **record})
        score = record["validation"][metric_name(au_set)]
        logger.info("epoch %d: loss %.4f, validation %s %.4f (label-prior baseline %.4f)",
                    epoch, loss, metric_name(au_set), score, metric_value(baseline, au_set))
        if score > best_score:
            best_score, best_epoch = score, epoch
            metrics = {**history[-1], "metric": metric_name(au_set),
                       "label_prior_baseline": baseline.as_dict(au_names(au_set))}
            info = CheckpointInfo(
                network_config, post.thresholds, post.smoothing_window, config.landmark_backend,
                data_summary=summary, metrics=metrics, training=config.to_dict(),
            )
            save_checkpoint(checkpoint_path, network, info)
    result = TrainingResult(
        checkpoint_path, au_set, metric_name(au_set), best_score, best_epoch,
        metric_value(baseline, au_set), history,
    )
    _write_log(out_dir / TRAINING_LOG_NAME, result, summary)
    return result


def _validate(
    network: AUNetwork, val_set: VideoSet, val_labels: list[np.ndarray], au_set: str,
    config: TrainingConfig, progress: bool,
) -> tuple[dict, PostProcessing]:
    """Validation scores with post-processing tuned on it, and without (0.5, no smoothing)."""
    probabilities = _predict_videos(network, val_set, progress)
    post, scores = tune_postprocessing(
        probabilities, val_labels, au_set, config.smoothing_windows, config.threshold_grid
    )
    plain = PostProcessing(np.full(len(post.thresholds), 0.5, dtype=np.float32), 1)
    untuned = score_probabilities(probabilities, val_labels, plain)
    record = {
        "validation": scores.as_dict(au_names(au_set)),
        "validation_untuned": untuned.as_dict(au_names(au_set)),
        "thresholds": [float(t) for t in post.thresholds],
        "smoothing_window": post.smoothing_window,
    }
    return record, post


def _train_epoch(
    network: AUNetwork, optimizer: torch.optim.Optimizer, train_set: VideoSet,
    weights: torch.Tensor, config: TrainingConfig, rng: np.random.Generator, epoch: int,
    progress: bool,
) -> float:
    """One pass over all usable training frames; the mean batch loss."""
    network.train()
    total, batches = 0.0, 0
    frames = sum(int(entry.usable.sum()) for entry in train_set.entries)
    bar = tqdm(total=frames, desc=f"epoch {epoch}/{config.epochs}", unit="frame",
               disable=not progress)
    for group in train_set.chunks(rng):
        images, motion, labels = train_set.training_frames(group)
        order = rng.permutation(len(labels))
        for start in range(0, len(order), config.batch_size):
            chosen = np.sort(order[start : start + config.batch_size])
            inputs = [t.to(config.device) for t in batch_tensors(images[chosen], motion[chosen])]
            targets = torch.from_numpy(labels[chosen]).to(config.device)
            loss = au_loss(network(*inputs), targets, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
            bar.update(len(chosen))
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
        "label_prior_baseline": result.baseline_score,
        "data_summary": summary,
        "history": result.history,
    }
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(log, indent=2), encoding="utf-8")
    partial.replace(path)
