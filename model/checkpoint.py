"""Checkpoints, and the predictors that turn a video's features into AU probabilities.

A checkpoint is one safetensors file holding the weights, with everything else as JSON metadata
(under the key "au_annotator"): network, feature and training configs, AU set, per-AU
thresholds, smoothing window, positive hold, landmark backend, data summary and metrics, so a
checkpoint alone rebuilds a ready predictor (and model.config the run that made it).
Loading never unpickles: a torch.save / pickle file is refused.

NetworkPredictor is the seed network behind the AUPredictor contract (model.predictors);
callers get it, or the geometry baseline, through model.predictors.load_predictor.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from model.au_sets import au_names
from model.baseline import GeometryBaseline, load_baseline
from model.errors import InputError
from model.features import FeatureConfig, FrameFeatures, motion_for
from model.files import content_hash, write_bytes_atomically
from model.network import AUNetwork, NetworkConfig, predict_probabilities

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.safetensors"  # the file name inside a training output folder
_METADATA_KEY = "au_annotator"
_FORMAT_VERSION = 1


@dataclass
class CheckpointInfo:
    config: NetworkConfig
    thresholds: np.ndarray  # (K,) float32, applied after smoothing
    smoothing_window: int
    landmark_backend: str
    data_summary: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # the TrainingConfig used, for the record
    # model.features.FeatureConfig.key() of the features trained on: crops computed another
    # way would silently degrade predictions, so loading warns on a mismatch.
    feature_key: str = ""
    # AUs whose output is the parent predictor's (a fine-tune whose frames never showed them
    # both present and absent), and that parent: {"kind": "baseline"} or {"kind":
    # "checkpoint", "file": name, "sha256": content hash, "path": where it was}.
    parent_aus: list[str] = field(default_factory=list)
    parent: dict = field(default_factory=dict)
    # The features trained on, whole: their motion is recomputed this way at prediction.
    features: FeatureConfig = field(default_factory=FeatureConfig)
    hold_frames: int = 0  # each positive held this many frames after smoothing

    @property
    def au_set(self) -> str:
        return self.config.au_set

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": _FORMAT_VERSION,
                "au_set": self.au_set,
                "aus": list(au_names(self.au_set)),
                "config": self.config.to_dict(),
                "thresholds": [float(t) for t in self.thresholds],
                "smoothing_window": int(self.smoothing_window),
                "landmark_backend": self.landmark_backend,
                "data_summary": self.data_summary,
                "metrics": self.metrics,
                "training": self.training,
                "feature_key": self.feature_key,
                "parent_aus": list(self.parent_aus),
                "parent": self.parent,
                "features": asdict(self.features),
                "hold_frames": int(self.hold_frames),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CheckpointInfo:
        values = json.loads(text)
        if values.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"format version {values.get('format_version')} is not supported")
        config = NetworkConfig.from_dict(values["config"])
        thresholds = np.asarray(values["thresholds"], dtype=np.float32)
        if thresholds.shape != (config.num_aus,):
            raise ValueError(f"{len(thresholds)} thresholds for {config.num_aus} AUs")
        return cls(
            config=config,
            thresholds=thresholds,
            smoothing_window=int(values["smoothing_window"]),
            landmark_backend=str(values["landmark_backend"]),
            data_summary=values.get("data_summary", {}),
            metrics=values.get("metrics", {}),
            training=values.get("training", {}),
            feature_key=str(values.get("feature_key", "")),
            parent_aus=list(values.get("parent_aus", [])),
            parent=dict(values.get("parent", {})),
            features=FeatureConfig.from_dict(values.get("features", {})),
            hold_frames=int(values.get("hold_frames", 0)),
        )


def save_checkpoint(path: str | Path, network: AUNetwork, info: CheckpointInfo) -> Path:
    """Write weights + info atomically: readers see the old file or the new one, never half."""
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in
               network.state_dict().items()}
    return write_bytes_atomically(path, save(weights, metadata={_METADATA_KEY: info.to_json()}))


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint file for `path`: the file itself, or model.safetensors in a folder."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    return path


def _refuse_non_safetensors(path: Path) -> None:
    with open(path, "rb") as stream:
        start = stream.read(9)
    # safetensors: 8-byte little-endian header size, then the JSON header. Checked first, since
    # a header size can start with any byte, including a pickle's 0x80.
    header_size = int.from_bytes(start[:8], "little") if len(start) == 9 else -1
    if 0 < header_size <= path.stat().st_size - 8 and start[8:9] == b"{":
        return
    if start.startswith(b"PK\x03\x04"):
        kind = "a zip archive as torch.save writes"
    elif start[:1] == b"\x80":
        kind = "a Python pickle"
    else:
        kind = "not a safetensors file"
    raise InputError(
        path,
        f"is {kind}; checkpoints must be safetensors files written by `au-annotator train` "
        "(pickled checkpoints are refused because loading them can run code)",
    )


def read_checkpoint(
    path: str | Path, au_set: str | None = None
) -> tuple[CheckpointInfo, dict[str, torch.Tensor]]:
    """(info, weights) of a checkpoint; InputError for anything but a matching safetensors file."""
    path = checkpoint_file(path)
    _refuse_non_safetensors(path)
    try:
        with safe_open(str(path), framework="pt") as stream:
            metadata = stream.metadata() or {}
            weights = {name: stream.get_tensor(name) for name in stream.keys()}
    except (SafetensorError, OSError) as error:
        raise InputError(path, f"damaged safetensors checkpoint ({error})") from None
    if _METADATA_KEY not in metadata:
        raise InputError(path, "safetensors file without au-annotator metadata (not a checkpoint)")
    try:
        info = CheckpointInfo.from_json(metadata[_METADATA_KEY])
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(path, f"unreadable checkpoint metadata ({error})") from None
    if au_set is not None and info.au_set != au_set:
        raise InputError(
            path,
            f"checkpoint is for AU set {info.au_set} ({info.config.num_aus} AUs), "
            f"not the requested {au_set} ({len(au_names(au_set))} AUs)",
        )
    return info, weights


def load_network(path: str | Path, au_set: str | None = None) -> tuple[AUNetwork, CheckpointInfo]:
    info, weights = read_checkpoint(path, au_set)
    network = AUNetwork(info.config)
    try:
        network.load_state_dict(weights)
    except RuntimeError as error:
        problem = f"weights do not fit the network ({str(error).splitlines()[0]})"
        raise InputError(checkpoint_file(path), problem) from None
    network.eval()
    return network, info


class NetworkPredictor:
    """The seed network behind the AUPredictor contract; the AUs in `info.parent_aus` come from
    `parent` (the predictor it was fine-tuned from) unchanged. Motion is recomputed with the
    checkpoint's own window and landmark points; `hold_frames` (prefill_labels takes it) is the
    positive hold it was tuned with."""

    kind = "network"  # as stored runs name it

    def __init__(self, network: AUNetwork, info: CheckpointInfo, version: str,
                 parent: NetworkPredictor | GeometryBaseline | None = None):
        self.network = network
        self.info = info
        self.au_set = info.au_set
        self.thresholds = info.thresholds
        self.smoothing_window = info.smoothing_window
        self.hold_frames = info.hold_frames
        self.landmark_backend = info.landmark_backend
        self.version = version
        self.parent = parent
        self.parent_columns = [au_names(self.au_set).index(au) for au in info.parent_aus]

    @property
    def settings(self) -> dict:
        """Nothing beyond `version`: a run names the checkpoint by its content hash."""
        return {}

    def predict(self, features: FrameFeatures) -> np.ndarray:
        motion = motion_for(features, self.info.features)  # (T, 2P)
        probabilities = predict_probabilities(
            self.network, features.images, motion, features.face
        )  # (T, K)
        if self.parent is not None and self.parent_columns:
            kept = self.parent.predict(features)[:, self.parent_columns]
            probabilities[:, self.parent_columns] = kept
        return probabilities


def parent_reference(path: str | Path | None) -> dict:
    """How a checkpoint names its parent predictor: the baseline, or a checkpoint file."""
    if path is None:
        return {"kind": "baseline"}
    file = checkpoint_file(path)
    return {"kind": "checkpoint", "file": file.name, "sha256": content_hash(file),
            "path": str(file.resolve())}


def _parent_path(reference: dict, child: Path) -> Path | None:
    """The parent's file: beside the child (model versions share a folder), else where it was;
    its content must be the one recorded."""
    if reference.get("kind") == "baseline":
        return None
    for candidate in (child.parent / reference["file"], Path(reference.get("path", ""))):
        if candidate.is_file() and content_hash(candidate) == reference["sha256"]:
            return candidate
    raise InputError(child, f"its parent checkpoint {reference['file']} (sha256 "
                            f"{reference['sha256'][:12]}…) is not beside it nor at "
                            f"{reference.get('path')}; put the parent's file back")


def load_network_predictor(path: str | Path, au_set: str | None = None) -> NetworkPredictor:
    network, info = load_network(path, au_set)
    file = checkpoint_file(path)
    trained, current = info.features, FeatureConfig()
    if info.feature_key != trained.key() or not trained.same_images(current):
        faces = f" (faces: {trained.faces})" if trained.faces != current.faces else ""
        logger.warning("%s: trained on features %s%s, this version computes %s; predictions may "
                       "be off until it is retrained", file, info.feature_key, faces, current.key())
    parent = None
    if info.parent_aus:
        found = _parent_path(info.parent, file)
        parent = (load_baseline(info.au_set) if found is None
                  else load_network_predictor(found, info.au_set))
    return NetworkPredictor(network, info, f"{file.stem}-{content_hash(file)[:12]}", parent)
