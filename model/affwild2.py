"""Reading an Aff-Wild2 AU folder as released (label files per split, each matched to its
video), and scoring a checkpoint on one of its splits.

Label folders of every release, in Aff-Wild2's own spelling (also under DIR/annotations/):

    DIR/AU_Set/Training_Set|Validation_Set/<video>.txt         ABAW 2020: abaw2020 (8 AUs)
    DIR/AU_Set/Train_Set|Validation_Set/<video>.txt            ABAW 2021: abaw12 (12 AUs)
    DIR/AU_Detection_Challenge/Train_Set|Validation_Set/...    later editions: abaw12

Videos (any of model.formats.VIDEO_EXTENSIONS) are found in DIR/videos/ and its subfolders,
in DIR/batch1/, DIR/batch2/ (any DIR/batch*), beside the label files, or in DIR itself.

Released folders have quirks, and none of them stops a run: each is a warning naming the label
file and what was done, kept in the split's `adjusted` or `skipped` record, which training and
evaluation list again at the end.
- blank lines: trailing ones are ignored, one inside reads as a frame not annotated;
- fewer label lines than decoded frames: the frames after the last line are not annotated;
- up to MAX_EXTRA_LINES more label lines than decoded frames: the extra lines are dropped;
- anything else (no video, a wrong header or value, a video that does not decode, many more
  label lines than frames): the label file is skipped.
`<video>_left.txt` / `<video>_right.txt` label one of two people in `<video>` (its `person`):
they are matched to their video and train and score on that person's own face, which the
feature loader finds (the application's subjects: left is the one whose face centre has the
smaller median x).

TrainingData makes the training, tuning and validation sets of model.training from a folder;
`evaluate` scores a checkpoint on one split, with its own post-processing and re-tuned there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.affwild2_files import RELEASED_LAYOUTS, read_label_file_leniently, video_name_for_label
from model.au_sets import AU_SETS, DEFAULT_AU_SET, NOT_CODED, au_names
from model.checkpoint import load_network
from model.dataset import FeatureLoader, VideoLabels, VideoSet
from model.errors import InputError
from model.features import FeatureConfig, FrameFeatures
from model.files import VIDEO_EXTENSIONS
from model.metrics import AUScores, metric_name, metric_value
from model.network import predict_probabilities
from model.smoothing import (
    SMOOTHING_WINDOWS,
    THRESHOLD_GRID,
    PostProcessing,
    label_prior_baseline,
    score_probabilities,
    tune_postprocessing,
)

logger = logging.getLogger(__name__)

_LABEL_PARENTS = ("", "annotations", "Annotations")
# More label lines than decoded frames by at most this many: decoders disagree by a frame or
# two at a video's end, so the file is used; more means it labels another video.
MAX_EXTRA_LINES = 5


@dataclass(frozen=True)
class LabelledVideo:
    name: str  # the label file's stem
    label_path: Path
    video_path: Path
    labels: np.ndarray  # (L, K) int8 as read: one row per label line
    person: str | None = None  # "left", "right": one of two people in the video

    @property
    def label_lines(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class AlignedVideo(VideoLabels):
    """A labelled video whose labels are aligned to its decoded frames (what UsableVideos
    gives a VideoSet)."""

    read_lines: int = 0  # label lines in its file

    @property
    def label_lines(self) -> int:
        return self.read_lines


@dataclass
class AffWild2Split:
    root: Path
    au_set: str
    split: str
    folder: Path
    videos: list[LabelledVideo]  # one person each (two label files for two people)
    skipped: dict[str, str] = field(default_factory=dict)  # label file → why it was not used
    adjusted: dict[str, str] = field(default_factory=dict)  # label file → what was done to it

    @property
    def aus(self) -> tuple[str, ...]:
        return au_names(self.au_set)

    def skip(self, label_path: Path, why: str) -> None:
        self.skipped[self._name(label_path)] = why
        logger.warning("%s: skipped: %s", label_path, why)

    def adjust(self, label_path: Path, what: str) -> None:
        self.adjusted[self._name(label_path)] = what
        logger.warning("%s: %s", label_path, what)

    def _name(self, label_path: Path) -> str:
        return label_path.relative_to(self.root).as_posix()


def label_folder(root: Path, au_set: str, split: str) -> Path | None:
    """The split's label folder of the newest release of `au_set` found in `root`."""
    for name, folder, subfolders in RELEASED_LAYOUTS:
        for parent in _LABEL_PARENTS:
            candidate = root / parent / folder / subfolders[split]
            if name == au_set and candidate.is_dir():
                return candidate
    return None


def infer_au_set(root: str | Path) -> str:
    """The AU set whose label folders exist in `root` (abaw2020 when both do)."""
    root = Path(root)
    present = [name for name in AU_SETS if label_folder(root, name, "train") is not None]
    if not present:
        expected = ", ".join(f"{folder}/{subs['train']}" for _, folder, subs in RELEASED_LAYOUTS)
        raise InputError(root, f"no Aff-Wild2 label folders found ({expected})")
    return DEFAULT_AU_SET if DEFAULT_AU_SET in present else present[0]


def video_files(root: Path, labels: Path) -> dict[str, Path]:
    """Video stem → file, from every folder Aff-Wild2 videos are shipped in; the first found
    wins (folders in the order the module docstring lists, extensions in VIDEO_EXTENSIONS')."""
    videos = root / "videos"
    folders = [videos, *sorted(p for p in videos.glob("*") if p.is_dir()),
               *sorted(p for p in root.glob("batch*") if p.is_dir()), labels, root]
    found: dict[str, Path] = {}
    for folder in folders:
        files = [p for p in folder.glob("*") if p.suffix.lower() in VIDEO_EXTENSIONS]
        for path in sorted(files, key=lambda p: (VIDEO_EXTENSIONS.index(p.suffix.lower()), p)):
            found.setdefault(path.stem, path)
    return found


def read_split(root: str | Path, split: str, au_set: str) -> AffWild2Split:
    """Every label file of one split that reads, matched to its video; the others are skipped
    with a warning. InputError when the folder is missing or no file is usable."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "Aff-Wild2 folder not found")
    folder = label_folder(root, au_set, split)
    if folder is None:
        expected = " or ".join(f"{folder}/{subs[split]}" for name, folder, subs in
                               RELEASED_LAYOUTS if name == au_set)
        raise InputError(root, f"no {expected} label folder for AU set {au_set}")
    videos = video_files(root, folder)
    result = AffWild2Split(root, au_set, split, folder, [])
    for label_path in sorted(folder.glob("*.txt")):
        stem, person = video_name_for_label(label_path)
        if stem not in videos:
            result.skip(label_path, f"no video {stem}.* in videos/, batch*/, beside the labels "
                                    f"or in {root}")
            continue
        try:
            label_file, done = read_label_file_leniently(label_path, au_set)
        except InputError as error:
            result.skip(label_path, error.problem)
            continue
        if done:
            result.adjust(label_path, done)
        result.videos.append(LabelledVideo(label_path.stem, label_path, videos[stem],
                                           label_file.labels, person))
    if not result.videos:
        raise InputError(folder, "no usable label files" + _reasons(result.skipped))
    return result


def _reasons(skipped: dict[str, str], shown: int = 3) -> str:
    if not skipped:
        return " (*.txt)"
    listed = "; ".join(f"{name}: {why}" for name, why in list(skipped.items())[:shown])
    more = f"; {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f" ({listed}{more})"


def align_labels(video: LabelledVideo, frame_count: int) -> tuple[np.ndarray, str]:
    """(frame_count, K) labels aligned to decoded frames, and what was done ("" when the counts
    agree): frames past the last line are -1, up to MAX_EXTRA_LINES extra lines are dropped.
    Beyond that the file and the video do not belong together: InputError."""
    lines, name = video.label_lines, video.video_path.name
    extra = lines - frame_count
    if extra > MAX_EXTRA_LINES:
        raise InputError(video.label_path, f"{lines} label lines but video {name} decodes only "
                                           f"{frame_count} frames")
    aligned = np.full((frame_count, video.labels.shape[1]), NOT_CODED, dtype=np.int8)
    kept = min(lines, frame_count)
    aligned[:kept] = video.labels[:kept]
    if extra > 0:
        return aligned, (f"{lines} label lines for {frame_count} decoded frames of {name}; the "
                         f"last {extra} line(s) dropped")
    if extra < 0:
        return aligned, (f"{lines} label lines for {frame_count} decoded frames of {name}; the "
                         f"last {-extra} frames are unlabelled")
    return aligned, ""


class UsableVideos:
    """The videos of a split whose features load and whose labels fit their decoded frames,
    found while iterating: any other is skipped (recorded in the split, with a warning).

    Iterating loads each video's features; `load` hands the features just checked over once,
    without reading them again, so a VideoSet built on this iterable and its `load` reads each
    video once."""

    def __init__(self, split: AffWild2Split, videos: list[LabelledVideo], load: FeatureLoader):
        self.split, self.videos, self._load = split, videos, load
        self._checked: tuple[tuple[Path, str | None], FrameFeatures] | None = None

    def __len__(self) -> int:
        """Videos to check (progress bars): the usable ones are at most as many."""
        return len(self.videos)

    def load(self, video_path: Path, person: str | None) -> FrameFeatures:
        if self._checked is not None and self._checked[0] == (video_path, person):
            features, self._checked = self._checked[1], None
            return features
        return self._load(video_path, person)

    def __iter__(self) -> Iterator[AlignedVideo]:
        for video in self.videos:
            try:
                features = self._load(video.video_path, video.person)
                labels, done = align_labels(video, len(features.face))
            except InputError as error:
                why = error.problem if error.path == video.label_path else str(error)
                self.split.skip(video.label_path, why)
                continue
            if done:
                self.split.adjust(video.label_path, done)
            self._checked = ((video.video_path, video.person), features)
            yield AlignedVideo(video.name, video.video_path, labels, video.person,
                               video.label_lines)
        self._checked = None


class TrainingData:
    """An Aff-Wild2 folder's videos as training, tuning and validation sets: usable videos only
    (the others skipped with a warning), tuning videos held out of training by `tune_split`."""

    def __init__(self, data_dir: Path, au_set: str, load: FeatureLoader, tune_split: float,
                 seed: int, frames_per_chunk: int, progress: bool = False):
        splits = {split: read_split(data_dir, split, au_set) for split in ("train", "validation")}
        training, tuning = split_off_tuning(splits["train"], tune_split, seed)

        def video_set(split: str, videos: list[LabelledVideo], whole: bool) -> VideoSet:
            usable = UsableVideos(splits[split], videos, load)
            title = "tuning" if whole and split == "train" else split
            found = VideoSet(usable, usable.load, frames_per_chunk, whole, progress, title)
            if not found.entries:
                raise InputError(splits[split].folder, f"no usable {title} videos; see the "
                                                       "warnings above")
            return found

        self.train = video_set("train", training, False)
        self.tuning = video_set("train", tuning, True) if tuning else None
        self.validation = video_set("validation", splits["validation"].videos, True)
        self.skipped = {**splits["train"].skipped, **splits["validation"].skipped}
        self.adjusted = {**splits["train"].adjusted, **splits["validation"].adjusted}
        self.tuned_on = {"split": "validation"} if self.tuning is None else {
            "split": "train", "tune_split": tune_split,
            "videos": [entry.name for entry in self.tuning.entries]}
        named = {"train": self.train, "tuning": self.tuning, "validation": self.validation}
        self.summary = {name: _set_summary(found) for name, found in named.items() if found}
        self.summary |= {"skipped_label_files": self.skipped,
                         "adjusted_label_files": self.adjusted}


def _set_summary(video_set: VideoSet) -> dict:
    summary = video_set.summary()
    del summary["skipped_label_files"]  # the folder's, listed once beside the sets
    return summary


def split_off_tuning(split: AffWild2Split, share: float, seed: int
                     ) -> tuple[list[LabelledVideo], list[LabelledVideo]]:
    """(training videos, tuning videos): `share` of the split's videos, whole (both people of a
    two-person video go the same way), chosen at random with `seed` (at least one, and at least
    one left to train on)."""
    files = sorted({v.video_path for v in split.videos})
    if share <= 0:
        return list(split.videos), []
    if len(files) < 2:
        raise InputError(split.folder, f"--tune-split {share} needs at least 2 training videos")
    count = min(max(1, round(share * len(files))), len(files) - 1)
    chosen = {files[i] for i in np.random.default_rng(seed).permutation(len(files))[:count]}
    return ([v for v in split.videos if v.video_path not in chosen],
            [v for v in split.videos if v.video_path in chosen])


@dataclass(frozen=True)
class FeatureSource:
    """How a video's features are made, for the caller's loader factory: the landmark backend,
    the feature settings (their `faces` says detected or Aff-Wild2's cropped_aligned crops) and
    the data folder the crops lie in."""

    data_dir: Path
    landmark_backend: str
    device: str
    features: FeatureConfig


@dataclass
class Evaluation:
    au_set: str
    aus: tuple[str, ...]
    split: str
    videos: int
    frames: int
    scores: AUScores  # with the checkpoint's own post-processing
    retuned: AUScores  # with window and thresholds tuned on this split itself
    baseline: AUScores  # best constant prediction per AU on the same labels
    tuned_on: dict  # where the checkpoint's epoch, window and thresholds were chosen
    skipped: dict[str, str]
    adjusted: dict[str, str]

    @property
    def metric(self) -> str:
        return metric_name(self.au_set)

    @property
    def score(self) -> float:
        return metric_value(self.scores, self.au_set)

    @property
    def held_out(self) -> bool | None:
        """Whether nothing was chosen on this split; None when the checkpoint does not say."""
        chosen_on = self.tuned_on.get("split")
        return None if chosen_on is None else chosen_on != self.split


def evaluate(
    data_dir: str | Path,
    model_path: str | Path,
    load_features: Callable[[FeatureSource], FeatureLoader],
    split: str = "validation",
    device: str = "cpu",
    progress: bool = False,
) -> Evaluation:
    """The checkpoint's scores on one split with its own post-processing, and re-tuned there.

    `load_features(source)` gives the per-video feature loader for the landmark backend and
    feature settings the checkpoint was trained with."""
    network, info = load_network(model_path)
    network.to(device)
    data_dir = Path(data_dir)
    split_videos = read_split(data_dir, split, info.au_set)
    source = FeatureSource(data_dir, info.landmark_backend, device, info.features)
    usable = UsableVideos(split_videos, split_videos.videos, load_features(source))
    probabilities, labels = [], []
    for video in tqdm(usable, desc=f"evaluate ({split})", disable=not progress):
        features = usable.load(video.video_path, video.person)
        labels.append(video.labels)
        probabilities.append(
            predict_probabilities(network, features.images, features.motion, features.face)
        )
    if not labels:
        raise InputError(split_videos.folder, "no usable videos" + _reasons(usable.split.skipped))
    post = PostProcessing(info.thresholds, info.smoothing_window, info.hold_frames)
    windows = tuple(info.training.get("smoothing_windows", SMOOTHING_WINDOWS))
    grid = tuple(info.training.get("threshold_grid", THRESHOLD_GRID))
    _, retuned = tune_postprocessing(probabilities, labels, info.au_set, windows, grid,
                                     info.hold_frames)
    return Evaluation(
        au_set=info.au_set, aus=split_videos.aus, split=split, videos=len(labels),
        frames=int(sum(len(label) for label in labels)),
        scores=score_probabilities(probabilities, labels, post), retuned=retuned,
        baseline=label_prior_baseline(labels, info.au_set),
        tuned_on=dict(info.metrics.get("tuned_on", {})),
        skipped=split_videos.skipped, adjusted=split_videos.adjusted,
    )
