"""Face landmark backends behind one contract: `dlib` (CPU default, offline) and `fan`
(face-alignment, GPU, batched), one module each, listed by name in
annotator.processing.landmarks.registry (what each is, the devices it runs on, how to make one):
annotator.processing.extraction.make_backend loads one from there, and the command line offers
exactly those names.

The contract every backend keeps:

Input: RGB uint8 frames, shape (H, W, 3), in decode order.
Output per frame: every face found, each with its box (x1, y1, x2, y2) in pixels of the frame,
a detection score (higher is more confident; backends differ in scale), and 68×2 landmarks in
pixels in iBUG order; an empty list for a frame without a face, so frame numbering never shifts.

Backends find faces; who each face is (a subject) is the tracker's business
(annotator.processing.landmarks.tracking). `SubjectLandmarks` is the result for a whole video, every
subject's row per frame; `LandmarkTable` one subject's, where a frame without that subject's
face has face=False, a zero box, score 0 and NaN landmarks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.au_sets import NUM_LANDMARKS
from model.files import load_arrays, save_arrays

# A box must overlap the previous one at least this much to count as the same face (a window
# search finding its face again, a detection continuing a subject, interpolation between two).
MIN_OVERLAP = 0.3
THUMBNAIL_SIZE = 96  # pixels, square: each subject's face as the subject list shows it


@dataclass
class FaceResult:
    face: bool
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in pixels
    score: float
    landmarks: np.ndarray  # (68, 2) float32 pixels, NaN without a face

    @classmethod
    def no_face(cls) -> FaceResult:
        return cls(
            face=False,
            box=np.zeros(4, np.float32),
            score=0.0,
            landmarks=np.full((NUM_LANDMARKS, 2), np.nan, np.float32),
        )


class LandmarkBackend(ABC):
    """A face detector + 68-point landmark model finding every face of a video's frames."""

    name: str

    @abstractmethod
    def track(self, frames: Iterable[np.ndarray]) -> Iterator[list[FaceResult]]:
        """The faces of each input frame (a list, maybe empty), in order. Frames are consumed
        lazily; a backend may use the faces of earlier frames to search the next ones."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the faces of earlier frames (call between videos)."""


@dataclass
class LandmarkTable:
    """Per-frame landmark results for one whole video, as arrays (the cached form)."""

    face: np.ndarray  # (T,) bool
    box: np.ndarray  # (T, 4) float32
    score: np.ndarray  # (T,) float32
    landmarks: np.ndarray  # (T, 68, 2) float32, NaN where face is False
    timestamps: np.ndarray  # (T,) float64 seconds (presentation time)

    def __len__(self) -> int:
        return len(self.face)

    @classmethod
    def from_results(cls, results: list[FaceResult], timestamps: list[float]) -> LandmarkTable:
        count = len(results)
        return cls(
            face=np.array([r.face for r in results], dtype=bool).reshape(count),
            box=np.array([r.box for r in results], dtype=np.float32).reshape(count, 4),
            score=np.array([r.score for r in results], dtype=np.float32).reshape(count),
            landmarks=np.array([r.landmarks for r in results], dtype=np.float32).reshape(
                count, NUM_LANDMARKS, 2
            ),
            timestamps=np.asarray(timestamps, dtype=np.float64).reshape(count),
        )

    def save(self, path: Path) -> None:
        save_arrays(path, self)

    @classmethod
    def load(cls, path: Path) -> LandmarkTable:
        return load_arrays(cls, path)


@dataclass
class SubjectLandmarks:
    """Per-frame landmark results of every subject of one video (the cached form). Subject n
    (numbered from 1, most seen first: annotator.processing.landmarks.tracking) is row n − 1; a
    video has at least one subject, which for a video without faces is seen on no frame."""

    face: np.ndarray  # (S, T) bool
    box: np.ndarray  # (S, T, 4) float32
    score: np.ndarray  # (S, T) float32
    landmarks: np.ndarray  # (S, T, 68, 2) float32, NaN where face is False
    timestamps: np.ndarray  # (T,) float64 seconds (presentation time)
    thumbnails: np.ndarray  # (S, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3) uint8 RGB, clearest face

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def count(self) -> int:
        """How many subjects."""
        return len(self.face)

    @classmethod
    def empty(cls, subjects: int, timestamps: np.ndarray) -> SubjectLandmarks:
        """`subjects` subjects seen on no frame (rows filled in with `set`)."""
        frames = len(timestamps)
        return cls(
            face=np.zeros((subjects, frames), bool),
            box=np.zeros((subjects, frames, 4), np.float32),
            score=np.zeros((subjects, frames), np.float32),
            landmarks=np.full((subjects, frames, NUM_LANDMARKS, 2), np.nan, np.float32),
            timestamps=np.asarray(timestamps, np.float64).reshape(frames),
            thumbnails=np.zeros((subjects, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3), np.uint8),
        )

    @classmethod
    def of_one(cls, table: LandmarkTable) -> SubjectLandmarks:
        """One subject's table as the only subject of the video (no thumbnail)."""
        subjects = cls.empty(1, table.timestamps)
        subjects.face[0], subjects.box[0], subjects.score[0] = table.face, table.box, table.score
        subjects.landmarks[0] = table.landmarks
        return subjects

    def set(self, row: int, frame: int, result: FaceResult) -> None:
        self.face[row, frame] = result.face
        self.box[row, frame] = result.box
        self.score[row, frame] = result.score
        self.landmarks[row, frame] = result.landmarks

    def subject(self, number: int = 1) -> LandmarkTable:
        """One subject's table (number from 1)."""
        row = self._row(number)
        return LandmarkTable(self.face[row], self.box[row], self.score[row],
                             self.landmarks[row], self.timestamps)

    def frames_seen(self, number: int) -> int:
        return int(self.face[self._row(number)].sum())

    def centre_x(self, number: int) -> float:
        """Median x (pixels) of the subject's face-box centre; NaN when never seen."""
        row = self._row(number)
        boxes = self.box[row][self.face[row]]
        return float(np.median((boxes[:, 0] + boxes[:, 2]) / 2)) if len(boxes) else float("nan")

    def _row(self, number: int) -> int:
        if not 1 <= number <= self.count:
            raise ValueError(f"no subject {number}: this video has subjects 1..{self.count}")
        return number - 1

    def save(self, path: Path) -> None:
        save_arrays(path, self)

    @classmethod
    def load(cls, path: Path) -> SubjectLandmarks:
        return load_arrays(cls, path)


def box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def largest_face(faces: list[FaceResult]) -> FaceResult:
    """The largest of `faces` (a frame showing one person: an aligned crop), else no face."""
    if not faces:
        return FaceResult.no_face()
    return max(faces, key=lambda face: box_area(face.box))


def same_face(boxes: list[np.ndarray], previous: np.ndarray) -> int | None:
    """Index of the box among `boxes` overlapping `previous` most, or None when none overlaps
    at least MIN_OVERLAP."""
    if not boxes:
        return None
    overlaps = [box_overlap(b, previous) for b in boxes]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= MIN_OVERLAP else None

