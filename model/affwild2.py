"""Reading an Aff-Wild2 AU folder (label files per split, each matched to its video), and
scoring a checkpoint on one of its splits.

Layout of the folder given as `--data DIR` (the label folders are Aff-Wild2's own names):

    DIR/videos/<video>.mp4              videos (also DIR/videos/<batch>/<video>.mp4, or
                                        DIR/<video>.mp4 beside the label folders)
    DIR/AU_Set/Training_Set/<video>.txt           ABAW 2020, AU set abaw2020 (8 AUs)
    DIR/AU_Set/Validation_Set/<video>.txt
    DIR/AU_Detection_Challenge/Train_Set/<video>.txt      later editions, abaw12 (12 AUs)
    DIR/AU_Detection_Challenge/Validation_Set/<video>.txt

The label folders may also sit in DIR/annotations/. A label file `<video>_left.txt` or
`<video>_right.txt` belongs to one of two people in `<video>`; the landmark backends follow one
subject (the largest face), so such files cannot be tied to a face and are skipped and counted.
Line j of a label file is decoded frame j: with fewer label lines than frames the rest are
treated as not annotated (a warning is logged); with more lines than frames the folder is
refused, naming the label file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.checkpoint import load_network
from model.dataset import FeatureLoader
from model.formats import (
    DEFAULT_AU_SET,
    LAYOUTS,
    NOT_CODED,
    InputError,
    au_names,
    find_video,
    read_label_file,
    video_name_for_label,
)
from model.metrics import AUScores, metric_name, metric_value
from model.network import predict_probabilities
from model.smoothing import PostProcessing, label_prior_baseline, score_probabilities

logger = logging.getLogger(__name__)

_LABEL_PARENTS = ("", "annotations", "Annotations")


@dataclass(frozen=True)
class LabelledVideo:
    name: str  # the label file's stem
    label_path: Path
    video_path: Path
    labels: np.ndarray  # (L, K) int8 as read: one row per label line

    @property
    def label_lines(self) -> int:
        return len(self.labels)

    def labels_for(self, frame_count: int) -> np.ndarray:
        """Labels aligned to `frame_count` decoded frames (see labels_for_frames)."""
        return labels_for_frames(self, frame_count)


@dataclass
class AffWild2Split:
    root: Path
    au_set: str
    split: str
    videos: list[LabelledVideo]
    skipped: dict[str, str] = field(default_factory=dict)  # label file → why it was not used

    @property
    def aus(self) -> tuple[str, ...]:
        return au_names(self.au_set)


def label_folder(root: Path, au_set: str, split: str) -> Path | None:
    folder, subfolders = LAYOUTS[au_set]
    for parent in _LABEL_PARENTS:
        candidate = root / parent / folder / subfolders[split]
        if candidate.is_dir():
            return candidate
    return None


def infer_au_set(root: str | Path) -> str:
    """The AU set whose label folders exist in `root` (abaw2020 when both do)."""
    root = Path(root)
    present = [name for name in LAYOUTS if label_folder(root, name, "train") is not None]
    if not present:
        raise InputError(root, f"no Aff-Wild2 label folders found ({_expected_folders()})")
    return DEFAULT_AU_SET if DEFAULT_AU_SET in present else present[0]


def _expected_folders() -> str:
    return " or ".join(
        f"{folder}/{subfolders['train']}" for folder, subfolders in LAYOUTS.values()
    )


def _video_folders(root: Path) -> list[Path]:
    videos = root / "videos"
    folders = [videos] if videos.is_dir() else []
    if videos.is_dir():
        folders += sorted(p for p in videos.iterdir() if p.is_dir())
    return folders + [root]


def read_split(root: str | Path, split: str, au_set: str) -> AffWild2Split:
    """All usable label files of one split with their videos; bad label files raise InputError."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "Aff-Wild2 folder not found")
    folder = label_folder(root, au_set, split)
    if folder is None:
        expected = "/".join((LAYOUTS[au_set][0], LAYOUTS[au_set][1][split]))
        raise InputError(root, f"no {expected} label folder for AU set {au_set}")
    video_folders = _video_folders(root)
    result = AffWild2Split(root, au_set, split, [])
    for label_path in sorted(folder.glob("*.txt")):
        stem, side = video_name_for_label(label_path)
        if side is not None:
            result.skipped[label_path.name] = "two people in one video (_left/_right)"
            continue
        video_path = next(
            (v for v in (find_video(f, stem) for f in video_folders) if v is not None), None
        )
        if video_path is None:
            raise InputError(label_path, f"no video {stem}.* in {root / 'videos'} or {root}")
        labels = read_label_file(label_path, au_set).labels
        result.videos.append(LabelledVideo(label_path.stem, label_path, video_path, labels))
    if result.skipped:
        logger.warning(
            "%s: skipped %d two-person label files (_left/_right)", folder, len(result.skipped)
        )
    if not result.videos:
        raise InputError(folder, "no usable label files (*.txt)")
    return result


def labels_for_frames(video: LabelledVideo, frame_count: int) -> np.ndarray:
    """(frame_count, K) labels aligned to decoded frames; frames past the last line are -1.

    More label lines than decoded frames means the file and the video do not belong together.
    """
    lines = len(video.labels)
    if lines > frame_count:
        raise InputError(
            video.label_path,
            f"{lines} label lines but video {video.video_path.name} decodes only "
            f"{frame_count} frames",
        )
    if lines < frame_count:
        logger.warning(
            "%s: %d label lines for %d decoded frames of %s; the last %d frames are unlabelled",
            video.label_path, lines, frame_count, video.video_path.name, frame_count - lines,
        )
    aligned = np.full((frame_count, video.labels.shape[1]), NOT_CODED, dtype=np.int8)
    aligned[:lines] = video.labels
    return aligned


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
    load_features: Callable[[str, str], FeatureLoader],
    split: str = "validation",
    device: str = "cpu",
    progress: bool = False,
) -> Evaluation:
    """The checkpoint's scores on one split, with its own smoothing window and thresholds.

    `load_features(landmark_backend, device)` gives the per-video feature loader for the
    landmark backend the checkpoint was trained with."""
    network, info = load_network(model_path)
    network.to(device)
    videos = read_split(Path(data_dir), split, info.au_set)
    load = load_features(info.landmark_backend, device)
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
