"""Per-frame AU probabilities from a video's features: the interface every predictor keeps.

Two predictors implement it: the seed network loaded from a checkpoint
(`model.checkpoint.NetworkPredictor`) and the landmark-geometry baseline
(`model.baseline.load_baseline(au_set: str | None) -> AUPredictor`), used when no trained
checkpoint is given. Callers (pipeline, UI, `predict`) get either through `load_predictor`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


class FrameFeatures(Protocol):
    """What a predictor reads per video (model.features.VideoFeatures has these fields).

    Per video, cached: annotator.pipeline.features_for_video(path, backend).
    """

    images: np.ndarray  # (T, 2, 112, 112) uint8: grayscale of the masked face, its edge map
    motion: np.ndarray  # (T, 136) float32: aligned landmarks L(t+1) − L(t−1), flattened 68×2
    face: np.ndarray  # (T,) bool: a face was found in the frame


@runtime_checkable
class AUPredictor(Protocol):
    """Turns one video's features into per-frame AU probabilities.

    Contract: `predict` returns (T, K) float32 probabilities that each AU of `au_set` is present,
    in the AU set's fixed order; rows of frames without a face are NaN (never 0), so smoothing
    and export treat them as "no face". `thresholds` (K,) and `smoothing_window` are the
    post-processing tuned for this predictor (annotator.smoothing.prefill_labels takes them).
    """

    au_set: str
    thresholds: np.ndarray  # (K,) float32
    smoothing_window: int  # frames of the centred moving average; 1 = none
    landmark_backend: str  # the backend whose features the predictor expects ("dlib", "fan")
    version: str  # short, human-readable: "baseline" or the checkpoint's name + content hash

    def predict(self, features: FrameFeatures) -> np.ndarray: ...


def load_predictor(path: str | Path | None, au_set: str | None = None) -> AUPredictor:
    """The network in checkpoint `path`, or the geometry baseline when `path` is None.

    `au_set` (when given) must match the checkpoint's AU set; a mismatch raises InputError.
    """
    if path is None:
        from model.baseline import load_baseline

        return load_baseline(au_set)
    from model.checkpoint import load_network_predictor

    return load_network_predictor(Path(path), au_set)
