"""What turns a video's features into AU probabilities, without importing torch.

Every predictor keeps the AUPredictor contract: the seed network loaded from a checkpoint
(model.checkpoint.NetworkPredictor), the landmark-geometry baseline (model.baseline), used when
no trained checkpoint is given, and a predictor's recorded output on one video
(RecordedPrediction: the prior of in-video adaptation, and what adapting gives). Callers load
the first two through `load_predictor`; torch (about 220 MB resident) is imported only when a
checkpoint is loaded, so processing with the baseline, and the app's pages, never pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from model.baseline import load_baseline
from model.features import FrameFeatures

BASELINE_LABEL = "geometry + expression baseline"  # the cold start (model.fusion)



def version_label(version_id: int | None) -> str:
    """How a model version is named to a coder: "version 3", or the baseline for None."""
    return BASELINE_LABEL if version_id is None else f"version {version_id}"


@runtime_checkable
class AUPredictor(Protocol):
    """Turns one video's features into per-frame AU probabilities, and says how they become
    labels.

    Contract: `predict` returns (T, K) float32 probabilities that each AU of `au_set` is present,
    in the AU set's fixed order; rows of frames without a face are NaN (never 0), so smoothing
    and export treat them as "no face". `thresholds` (K,), `smoothing_window` and `hold_frames`
    are the post-processing tuned for this predictor (model.smoothing.prefill_labels takes
    them). `kind` says what made it, in the words a stored run keeps ("geometry-baseline",
    "network", model.adapt.ADAPTED_KIND), and `settings` what else a run records of it.
    """

    au_set: str
    kind: str
    thresholds: np.ndarray  # (K,) float32
    smoothing_window: int  # frames of the centred moving average; 1 = none
    hold_frames: int  # each positive held this many frames after smoothing; 0 = none
    landmark_backend: str  # the backend whose features the predictor expects ("dlib", "fan")
    version: str  # short, human-readable: "baseline" or the checkpoint's name + content hash

    @property
    def settings(self) -> dict: ...

    def predict(self, features: FrameFeatures) -> np.ndarray: ...


@dataclass
class RecordedPrediction:
    """A predictor's output on one video as a prediction run keeps it, behind the AUPredictor
    contract: `predict` gives the recorded probabilities back for that video's frames (any
    features with its frame count). In-video adaptation starts from one (the prior's pre-fill,
    with any post-processing a coder set) and gives one of model.adapt.ADAPTED_KIND."""

    au_set: str
    kind: str
    probabilities: np.ndarray  # (T, K) float32, NaN rows without a face
    thresholds: np.ndarray  # (K,) float32
    smoothing_window: int
    hold_frames: int
    landmark_backend: str
    version: str
    settings: dict = field(default_factory=dict)

    def predict(self, features: FrameFeatures) -> np.ndarray:
        frames = len(features.face)
        if frames != len(self.probabilities):
            raise ValueError(f"recorded for {len(self.probabilities)} frames, asked for {frames}")
        return self.probabilities.copy()


def load_predictor(path: str | Path | None, au_set: str | None = None) -> AUPredictor:
    """The network in checkpoint `path`, or the geometry baseline when `path` is None.

    `au_set` (when given) must match the checkpoint's AU set; a mismatch raises InputError.
    """
    if path is None:
        return load_baseline(au_set)
    from model.checkpoint import load_network_predictor  # torch, only for a network

    return load_network_predictor(Path(path), au_set)
