"""Scoring a checkpoint on an Aff-Wild2 split with its own smoothing window and thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from model.affwild2 import labels_for_frames, read_split
from model.checkpoint import load_network
from model.dataset import FeatureLoader, feature_loader
from model.metrics import AUScores
from model.network import predict_probabilities
from model.tuning import (
    PostProcessing,
    label_prior_baseline,
    metric_name,
    metric_value,
    score_probabilities,
)


@dataclass
class Evaluation:
    au_set: str
    aus: tuple[str, ...]
    split: str
    videos: int
    frames: int
    scores: AUScores
    baseline: AUScores  # best constant prediction per AU on the same labels

    @property
    def metric(self) -> str:
        return metric_name(self.au_set)

    @property
    def score(self) -> float:
        return metric_value(self.scores, self.au_set)


def evaluate(
    data_dir: str | Path,
    model_path: str | Path,
    split: str = "validation",
    load_features: FeatureLoader | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> Evaluation:
    network, info = load_network(model_path)
    network.to(device)
    videos = read_split(Path(data_dir), split, info.au_set)
    load = load_features or feature_loader(info.landmark_backend, device)
    probabilities, labels = [], []
    for video in tqdm(videos.videos, desc=f"evaluate ({split})", disable=not progress):
        features = load(video.video_path)
        labels.append(labels_for_frames(video, len(features.face)))
        probabilities.append(
            predict_probabilities(network, features.images, features.motion, features.face)
        )
    post = PostProcessing(info.thresholds, info.smoothing_window)
    return Evaluation(
        au_set=info.au_set,
        aus=videos.aus,
        split=split,
        videos=len(labels),
        frames=int(sum(len(label) for label in labels)),
        scores=score_probabilities(probabilities, labels, post),
        baseline=label_prior_baseline(labels, info.au_set),
    )


def format_evaluation(evaluation: Evaluation) -> str:
    """The lines `au-annotator evaluate` prints, the AU set's challenge score first."""
    scores, count = evaluation.scores, len(evaluation.aus)
    if evaluation.metric == "abaw2020":
        headline = (f"ABAW 2020 score: {scores.abaw2020:.4f}  (0.5 × mean F1 {scores.mean_f1:.4f} "
                    f"+ 0.5 × accuracy {scores.accuracy:.4f})")
    else:
        headline = f"ABAW score (mean F1 over {count} AUs): {scores.mean_f1:.4f}"
    lines = [
        f"{evaluation.split}: {evaluation.videos} videos, {evaluation.frames} frames, "
        f"AU set {evaluation.au_set}",
        headline,
        f"mean F1 over {count} AUs: {scores.mean_f1:.4f}; accuracy: {scores.accuracy:.4f}",
        "per-AU F1: " + "  ".join(
            f"{au} {f1:.3f}" for au, f1 in zip(evaluation.aus, scores.per_au_f1, strict=True)
        ),
        f"label-prior baseline ({evaluation.metric}): "
        f"{metric_value(evaluation.baseline, evaluation.au_set):.4f}",
    ]
    return "\n".join(lines)
