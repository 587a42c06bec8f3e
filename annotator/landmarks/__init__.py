"""Face landmark backends behind one contract: `dlib` (CPU default, offline) and `fan`
(face-alignment, GPU, batched), one module each; annotator.pipeline.make_backend loads one by
name.

The contract every backend keeps:

Input: RGB uint8 frames, shape (H, W, 3), in decode order.
Output per frame: whether a face was found, its box (x1, y1, x2, y2) in pixels of the frame,
a detection score (higher is more confident; backends differ in scale), and 68×2 landmarks
in pixels in iBUG order. A frame without a face has face=False, a zero box, score 0 and NaN
landmarks, so frame numbering never shifts.

Backends follow one subject: the largest face when tracking starts, then the face whose box
overlaps the previous one the most (`pick_subject`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.formats import NUM_LANDMARKS, load_arrays, save_arrays

# A box must overlap the previous one at least this much to count as the same person;
# below it the track is lost and the subject is re-acquired as the largest face.
MIN_OVERLAP = 0.3


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
    """A face detector + 68-point landmark model following one subject through a video."""

    name: str

    @abstractmethod
    def track(self, frames: Iterable[np.ndarray]) -> Iterator[FaceResult]:
        """One FaceResult per input frame, in order. Frames are consumed lazily."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the subject being followed (call between videos)."""


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


def box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def pick_subject(boxes: list[np.ndarray], previous: np.ndarray | None) -> int | None:
    """Index of the subject's box among `boxes`.

    Without a previous box: the largest face. With one: the face overlapping it most, or None
    when no face overlaps enough (the caller then decides whether to re-acquire).
    """
    if not boxes:
        return None
    if previous is None:
        return int(np.argmax([box_area(b) for b in boxes]))
    overlaps = [box_overlap(b, previous) for b in boxes]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= MIN_OVERLAP else None


BACKENDS = ("dlib", "fan")
