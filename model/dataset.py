"""Features and frame-aligned labels of a set of videos, held in memory when they fit.

The videos come from an Aff-Wild2 split (model.affwild2.AlignedVideo) or from labels already
aligned to decoded frames (`VideoLabels`, e.g. coders' corrections from the database); both
give `labels_for(frame_count)`. Labels are of one person of the video (`person`, as label files
name them: None for the video's subject 1, "left", "right", "subject<N>"), and the features
loaded for them are that person's face. Training reads only "usable" frames (a face and at least one
annotated AU); validation keeps whole videos, because smoothing runs along each video's frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from model.au_sets import NOT_CODED
from model.errors import InputError
from model.features import FrameFeatures

logger = logging.getLogger(__name__)

# A video's features of one person by the video's path and the person (see above); the
# application passes its cached pipeline in.
FeatureLoader = Callable[[Path, str | None], FrameFeatures]


class LabelSource(Protocol):
    """One video's labels, aligned to its decoded frames on request."""

    name: str
    video_path: Path
    person: str | None

    @property
    def label_lines(self) -> int: ...

    def labels_for(self, frame_count: int) -> np.ndarray:
        """(frame_count, K) int8 labels, -1 = not annotated; InputError when they cannot fit."""
        ...


@dataclass(frozen=True)
class VideoLabels:
    """Labels already aligned to a video's decoded frames (one row per frame)."""

    name: str
    video_path: Path
    labels: np.ndarray  # (T, K) int8, -1 = not annotated
    person: str | None = None

    @property
    def label_lines(self) -> int:
        return len(self.labels)

    def labels_for(self, frame_count: int) -> np.ndarray:
        if frame_count != len(self.labels):
            raise InputError(
                self.video_path,
                f"decodes {frame_count} frames but {len(self.labels)} frames are labelled",
            )
        return self.labels


@dataclass
class VideoEntry:
    name: str
    video_path: Path
    labels: np.ndarray  # (T, K) int8 aligned to decoded frames, -1 = not annotated
    face: np.ndarray  # (T,) bool
    label_lines: int
    held: FrameFeatures | None  # in memory when within the frame budget
    person: str | None = None

    @property
    def usable(self) -> np.ndarray:
        return self.face & (self.labels != NOT_CODED).any(axis=1)  # (T,)


@dataclass
class _Frames:
    """Only the usable frames of a video: what training needs, at a fraction of the memory."""

    images: np.ndarray
    motion: np.ndarray
    face: np.ndarray


class VideoSet:
    """A set of videos: labels aligned to decoded frames, features held or re-loaded.

    `skipped` names label files left out before (reported in the summary).
    """

    def __init__(
        self, videos: Sequence[LabelSource], load: FeatureLoader, frame_budget: int,
        whole_videos: bool, progress: bool = False, title: str = "videos",
        skipped: dict[str, str] | None = None,
    ):
        self.load, self.whole_videos = load, whole_videos
        self.frame_budget = frame_budget
        self.skipped = dict(skipped or {})
        self.entries: list[VideoEntry] = []
        held_frames = 0
        self._motion_moments = [0, 0.0, 0.0]  # values, sum, sum of squares (usable frames)
        for video in tqdm(videos, desc=f"features ({title})", disable=not progress):
            features = load(video.video_path, video.person)
            labels = video.labels_for(len(features.face))
            entry = VideoEntry(video.name, video.video_path, labels, np.asarray(features.face),
                               video.label_lines, None, video.person)
            self._add_motion(np.asarray(features.motion)[entry.usable])
            kept = len(labels) if whole_videos else int(entry.usable.sum())
            if held_frames + kept <= frame_budget:
                entry.held = features if whole_videos else self._usable_frames(features, entry)
                held_frames += kept
            self.entries.append(entry)

    def _add_motion(self, motion: np.ndarray) -> None:
        values = np.nan_to_num(motion.astype(np.float64))
        self._motion_moments[0] += values.size
        self._motion_moments[1] += values.sum()
        self._motion_moments[2] += np.square(values).sum()

    @staticmethod
    def _usable_frames(features: FrameFeatures, entry: VideoEntry) -> _Frames:
        usable = entry.usable
        return _Frames(features.images[usable], features.motion[usable], features.face[usable])

    def features(self, index: int) -> FrameFeatures:
        """Whole-video features (whole_videos) or usable frames only (training)."""
        entry = self.entries[index]
        if entry.held is not None:
            return entry.held
        features = self.load(entry.video_path, entry.person)
        return features if self.whole_videos else self._usable_frames(features, entry)

    def usable_labels(self) -> np.ndarray:
        """(N, K) labels of all usable frames, in video order."""
        return np.concatenate([e.labels[e.usable] for e in self.entries])

    def chunks(self, rng: np.random.Generator) -> Iterator[list[int]]:
        """Videos in random order, grouped so each group's usable frames fit the budget."""
        group, size = [], 0
        for index in rng.permutation(len(self.entries)):
            count = int(self.entries[index].usable.sum())
            if group and size + count > self.frame_budget:
                yield group
                group, size = [], 0
            group.append(int(index))
            size += count
        if group:
            yield group

    def training_frames(self, group: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images (N, 2, S, S) uint8, motion (N, 136), labels (N, K)) of the group's videos."""
        parts = [(self.features(i), self.entries[i]) for i in group]
        images = np.concatenate([f.images for f, _ in parts])
        motion = np.concatenate([f.motion for f, _ in parts])
        labels = np.concatenate([e.labels[e.usable] for _, e in parts])
        return images, motion, labels

    @property
    def motion_std(self) -> float:
        """Spread of the landmark difference over usable frames, to scale the network's input."""
        count = max(self._motion_moments[0], 1)
        mean = self._motion_moments[1] / count
        return float(np.sqrt(max(self._motion_moments[2] / count - mean**2, 0.0)))

    def summary(self) -> dict:
        frames = sum(len(e.labels) for e in self.entries)
        labels = self.usable_labels()
        return {
            "videos": len(self.entries),
            "frames": frames,
            "frames_with_face": int(sum(e.face.sum() for e in self.entries)),
            "usable_frames": len(labels),
            "positives": [int(v) for v in (labels == 1).sum(0)],
            "negatives": [int(v) for v in (labels == 0).sum(0)],
            "fewer_label_lines_than_frames": {
                e.name: {"label_lines": e.label_lines, "frames": len(e.labels)}
                for e in self.entries if e.label_lines < len(e.labels)
            },
            "skipped_label_files": dict(self.skipped),
        }
