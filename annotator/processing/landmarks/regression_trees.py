"""dlib's 68-point shape predictor (a cascade of regression-tree ensembles, Kazemi & Sullivan
2014), read from dlib's model file and evaluated by the C extension _regression_trees.

Evaluated the way dlib evaluates it (the same reference shape, feature pixels, similarity
transform, tree walk, rounding and float arithmetic), so the landmarks are dlib's: identical on
every fit of the bundled clips (tests/annotator/test_regression_trees.py). What differs: a fit
lets go of the interpreter lock (dlib's holds it), so one face's fit runs beside the face
searches, decoding and feature work of other threads; it takes about half of dlib's time; and
the model takes 65 MB (its tables) where dlib's takes about 140.

The model file is dlib's serialization: every value, integer or float, is one or two
variable-length integers (a control byte, whose low four bits count the little-endian bytes
after it and whose top bit is the sign; a float is a mantissa and a power of two), read a value
at a time into the model's tables.

The extension is built by `pip install` (pyproject.toml) where a C compiler is found;
`available()` says whether it was, and annotator.processing.landmarks.dlib_backend fits with
dlib's own predictor where it was not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from annotator.processing.landmarks import _regression_trees
except ImportError:  # not compiled (no C compiler where it was installed)
    _regression_trees = None


class ModelFileError(ValueError):
    """The file is not a dlib shape predictor this module can read."""


def available() -> bool:
    """Whether the compiled fit was built with this installation."""
    return _regression_trees is not None


@dataclass(frozen=True)
class ShapeModel:
    """A shape predictor's tables (read-only): C cascades of T trees of S splits (S + 1
    leaves), P feature pixels per cascade, N points."""

    initial: np.ndarray  # (2N,) float32: the mean shape, x and y of each point, 0-1 of the box
    splits: np.ndarray  # (C, T, S, 2) int32: the two feature pixels each split compares
    thresholds: np.ndarray  # (C, T, S) float32: go left when the first minus the second exceeds it
    leaves: np.ndarray  # (C, T, S + 1, 2N) float32: the shape change each leaf adds
    anchors: np.ndarray  # (C, P) int32: the point each feature pixel is placed from
    deltas: np.ndarray  # (C, P, 2) float32: its offset from that point in the mean shape

    @property
    def points(self) -> int:
        return self.initial.size // 2

    def fit(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(N, 2) float32 whole-pixel landmarks of the face in `box` (left, top, right, bottom,
        whole pixels, right and bottom inside the box as dlib's rectangles) of a gray uint8
        frame. Lets go of the interpreter lock while it runs."""
        gray = np.ascontiguousarray(gray, dtype=np.uint8)
        if gray.ndim != 2:
            raise ValueError(f"fit needs a gray frame (H, W), not an array of shape {gray.shape}")
        out = np.empty((self.points, 2), np.float32)
        left, top, right, bottom = (int(v) for v in box)
        cascades, trees, splits = self.thresholds.shape
        _regression_trees.fit(gray, *gray.shape, left, top, right, bottom, self.initial,
                              self.splits, self.thresholds, self.leaves, self.anchors,
                              self.deltas, cascades, trees, splits, self.deltas.shape[1], out)
        return out


def read(path: Path) -> ShapeModel:
    """The tables of a dlib shape predictor file; ModelFileError names the file and what is
    wrong with it."""
    if _regression_trees is None:
        raise RuntimeError("the compiled fit (annotator.processing.landmarks._regression_trees) "
                           "was not built: reinstall with a C compiler (pip install -e .)")
    try:
        (initial, cascades, trees, splits, pixels, pairs, thresholds, leaves, anchors,
         deltas) = _regression_trees.read(path)
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read the landmark model: "
                             f"{error.strerror or error}") from None
    except ValueError as error:
        raise ModelFileError(f"{path}: not a dlib shape predictor ({error})") from None
    rows = len(initial) // 4

    def table(data: bytes, dtype, *shape: int) -> np.ndarray:
        return np.frombuffer(data, dtype).reshape(shape)

    return ShapeModel(
        initial=table(initial, np.float32, rows),
        splits=table(pairs, np.int32, cascades, trees, splits, 2),
        thresholds=table(thresholds, np.float32, cascades, trees, splits),
        leaves=table(leaves, np.float32, cascades, trees, splits + 1, rows),
        anchors=table(anchors, np.int32, cascades, pixels),
        deltas=table(deltas, np.float32, cascades, pixels, 2),
    )
