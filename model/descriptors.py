"""Per-frame descriptors a small learner can use: face geometry against the video's resting
face, and the appearance of the aligned face as histograms of oriented gradients (HOG).

Both come from the cached features of a video, never from its pixels again:
- geometry: the landmark measures the geometry baseline uses (brow heights, eye opening, lip
  gap, mouth width, ...; model.baseline), in inter-ocular distances, minus the video's resting
  face (model.baseline.MEASURES, in that order);
- expression: the expression network's probabilities (model.expression), 7 per frame;
- appearance: HOG of the masked 112×112 gray crop: 8-pixel cells (14 × 14), 9 unsigned
  orientation bins, each cell divided by the gradient energy of the 2 × 2 cells around it, so
  lighting and contrast matter less than the shape of wrinkles, furrows and lips.

HOG is the OpenFace 2 recipe for AU appearance; like OpenFace, the learner subtracts each
video's median descriptor (a person's neutral face), which model.adapt does. Rows of frames
without a face are zeros here and never used.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.arrays import DiskArray, RowWriter, write_stored_member
from model.baseline import geometry_changes
from model.expression import features_expression
from model.files import atomic_path

CELL = 8  # pixels per HOG cell side
ORIENTATIONS = 9  # unsigned: 0..180 degrees in 20-degree bins
BATCH = 64  # crops per vectorised step (about 25 MB of float32 temporaries)
DESCRIPTOR_VERSION = 2  # bump when the computation changes, so caches are rebuilt


@dataclass
class VideoDescriptors:
    """Descriptors of every decoded frame of one video, in decode order."""

    # (T, 14*14*9) float16 HOG, zeros where face is False; loaded from a cache file it is a
    # model.arrays.DiskArray, read from disk a piece at a time
    appearance: np.ndarray | DiskArray
    geometry: np.ndarray  # (T, G) float32 change from the resting face, NaN where face is False
    face: np.ndarray  # (T,) bool
    expression: np.ndarray  # (T, 7) float32 expression probabilities, NaN where face is False

    def __len__(self) -> int:
        return len(self.face)

    def save(self, path: Path) -> None:
        """One uncompressed .npz, written atomically and a piece at a time, so a long video's
        descriptors are read in place (a few rows at a time) when loaded."""
        with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
            write_stored_member(archive, "appearance.npy", self.appearance)
            write_stored_member(archive, "geometry.npy", np.asarray(self.geometry))
            write_stored_member(archive, "face.npy", np.asarray(self.face))
            write_stored_member(archive, "expression.npy", np.asarray(self.expression))

    @classmethod
    def load(cls, path: Path) -> VideoDescriptors:
        """Geometry, face and expression in memory; appearance read from the file when
        indexed."""
        with np.load(path, allow_pickle=False) as arrays:
            geometry, face, expression = arrays["geometry"], arrays["face"], arrays["expression"]
        return cls(DiskArray(path, "appearance.npy"), geometry, face, expression)

    def shape_and_expression(self) -> np.ndarray:
        """(T, G + 7) the learner's low-dimensional columns: geometry, then the expression
        probabilities (NaN where no face)."""
        return np.concatenate([self.geometry, self.expression], axis=1)


def descriptors_from_features(features, spill: Path | None = None) -> VideoDescriptors:
    """Descriptors of a video from its features (model.features.VideoFeatures: `images`,
    `aligned_landmarks`, `face`, and `expression` when attached, else classified here). With
    `spill` (a file name) the appearance rows are written there as they are made instead of
    held (the file must outlive the descriptors)."""
    face = np.asarray(features.face, dtype=bool)
    images = features.images
    count, size = len(face), images.shape[-1]
    cells = size // CELL
    width = cells * cells * ORIENTATIONS
    writer = RowWriter(spill, (width,), np.float16) if spill is not None else None
    appearance = None if writer else np.zeros((count, width), np.float16)
    for start in range(0, count, BATCH):
        part = np.arange(start, min(start + BATCH, count))
        found = part[face[part]]
        if writer:
            rows = np.zeros((len(part), width), np.float16)
            if len(found):
                rows[found - start] = hog(images[found, 0])
            writer.append(rows)
        elif len(found):
            appearance[found] = hog(images[found, 0]).astype(np.float16)
    if writer:
        appearance = writer.close()
    geometry = geometry_changes(features.aligned_landmarks, face)
    return VideoDescriptors(appearance, geometry.astype(np.float32), face,
                            features_expression(features))


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
