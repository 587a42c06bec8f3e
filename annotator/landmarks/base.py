"""The contract every landmark backend keeps.

Input: RGB uint8 frames, shape (H, W, 3), in decode order.
Output per frame: whether a face was found, its box (x1, y1, x2, y2) in pixels of the frame,
a detection score (higher is more confident; backends differ in scale), and 68×2 landmarks
in pixels in iBUG order. A frame without a face has face=False, a zero box, score 0 and NaN
landmarks, so frame numbering never shifts.

Backends follow one subject: the largest face when tracking starts, then the face whose box
overlaps the previous one the most.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.constants import NUM_LANDMARKS


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
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(
            partial, face=self.face, box=self.box, score=self.score,
            landmarks=self.landmarks, timestamps=self.timestamps,
        )
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> LandmarkTable:
        with np.load(path, allow_pickle=False) as arrays:
            return cls(**{name: arrays[name] for name in arrays.files})
