"""Per-frame descriptors a small learner can use: face geometry against the video's resting
face, and the appearance of the aligned face as histograms of oriented gradients (HOG).

Both come from the cached features of a video, never from its pixels again:
- geometry: the landmark measures the geometry baseline uses (brow heights, eye opening, lip
  gap, mouth width, ...; model.baseline), in inter-ocular distances, minus the video's resting
  face (model.baseline.MEASURES, in that order);
- appearance: HOG of the masked 112×112 gray crop: 8-pixel cells (14 × 14), 9 unsigned
  orientation bins, each cell divided by the gradient energy of the 2 × 2 cells around it, so
  lighting and contrast matter less than the shape of wrinkles, furrows and lips.

HOG is the OpenFace 2 recipe for AU appearance; like OpenFace, the learner subtracts each
video's median descriptor (a person's neutral face), which model.adapt does. Rows of frames
without a face are zeros here and never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.baseline import geometry_changes
from model.formats import load_arrays, save_arrays

CELL = 8  # pixels per HOG cell side
ORIENTATIONS = 9  # unsigned: 0..180 degrees in 20-degree bins
BATCH = 256  # crops per vectorised step (about 100 MB of float32 temporaries)
DESCRIPTOR_VERSION = 1  # bump when the computation changes, so caches are rebuilt


@dataclass
class VideoDescriptors:
    """Descriptors of every decoded frame of one video, in decode order."""

    appearance: np.ndarray  # (T, 14*14*9) float16 HOG, zeros where face is False
    geometry: np.ndarray  # (T, G) float32 change from the resting face, NaN where face is False
    face: np.ndarray  # (T,) bool

    def __len__(self) -> int:
        return len(self.face)

    def save(self, path: Path) -> None:
        """Uncompressed, so a long video's descriptors load in a fraction of a second."""
        save_arrays(path, self, compress=False)

    @classmethod
    def load(cls, path: Path) -> VideoDescriptors:
        return load_arrays(cls, path)


def descriptors_from_features(features) -> VideoDescriptors:
    """Descriptors of a video from its features (model.features.VideoFeatures: `images`,
    `aligned_landmarks`, `face`)."""
    face = np.asarray(features.face, dtype=bool)
    images = features.images
    count, size = len(face), images.shape[-1]
    cells = size // CELL
    appearance = np.zeros((count, cells * cells * ORIENTATIONS), np.float16)
    rows = np.flatnonzero(face)
    for start in range(0, len(rows), BATCH):
        chosen = rows[start : start + BATCH]
        appearance[chosen] = hog(images[chosen, 0]).astype(np.float16)
    geometry = geometry_changes(np.asarray(features.aligned_landmarks, np.float64), face)
    return VideoDescriptors(appearance, geometry.astype(np.float32), face)


def hog(crops: np.ndarray) -> np.ndarray:
    """(N, S, S) uint8 gray crops → (N, (S/8)² · 9) float32 block-normalised HOG."""
    count, size = crops.shape[0], crops.shape[1]
    cells = size // CELL
    # all crops stacked as one tall image, so OpenCV runs each step once for the whole batch
    tall = np.ascontiguousarray(crops, dtype=np.float32).reshape(count * size, size)
    centred = np.array([[-1.0, 0.0, 1.0]], np.float32)  # centred differences, as Dalal–Triggs
    dx = cv2.filter2D(tall, -1, centred, borderType=cv2.BORDER_CONSTANT)
    dy = cv2.filter2D(tall, -1, centred.T, borderType=cv2.BORDER_CONSTANT)
    dx[:, [0, -1]] = 0  # no gradient across a crop's own border
    dy.reshape(count, size, size)[:, [0, -1]] = 0  # nor across the seam between two crops
    magnitude, angle = cv2.cartToPolar(dx, dy)  # angle in radians, [0, 2π)
    orientation = (angle * np.float32(ORIENTATIONS / np.pi)).astype(np.int32) % ORIENTATIONS
    cell_of_pixel = np.minimum(np.arange(size) // CELL, cells - 1)
    cell = (cell_of_pixel[:, None] * cells + cell_of_pixel[None, :]) * ORIENTATIONS  # (S, S)
    bins = cells * cells * ORIENTATIONS
    index = orientation.reshape(count, size, size) + cell[None]
    index += (np.arange(count, dtype=np.int32) * bins)[:, None, None]
    histogram = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=count * bins)
    histogram = histogram.reshape(count, cells, cells, ORIENTATIONS).astype(np.float32)
    energy = np.square(histogram).sum(axis=-1)  # (N, c, c)
    padded = np.pad(energy, ((0, 0), (1, 1), (1, 1)), mode="edge")
    # mean energy of the 2 × 2 blocks around each cell (a 3 × 3 window of cells)
    local = sum(padded[:, i : i + cells, j : j + cells] for i in range(3) for j in range(3)) / 9
    normalised = histogram / np.sqrt(local + 1.0)[..., None]
    return normalised.reshape(count, bins)
