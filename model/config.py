"""Typed configurations: the network's (saved whole in every checkpoint) and training's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from model.constants import CROP_SIZE, DEFAULT_AU_SET, NUM_LANDMARKS, au_names

FUSIONS = ("concat", "sum")


@dataclass(frozen=True)
class NetworkConfig:
    """Everything needed to rebuild the seed network from a checkpoint."""

    au_set: str = DEFAULT_AU_SET
    crop_size: int = CROP_SIZE
    in_channels: int = 2  # grayscale of the masked face + its edge map
    # 3×3 conv blocks, each halving the size (the first by stride 2, the others by max-pool):
    # 112 → 7×7 positions after four, each seeing a ~45-pixel patch (a brow, an eye, a mouth
    # corner), not the whole face; the GRU then relates the positions.
    conv_channels: tuple[int, ...] = (16, 32, 48, 64)
    hidden_size: int = 96  # static, dynamic and fused features; the AU query GRU's state
    embedding_size: int = 64  # one learnable query embedding per AU
    motion_size: int = NUM_LANDMARKS * 2  # flattened aligned landmark difference
    motion_scale: float = 1.0  # multiplies the landmark difference; training sets it to 1/std
    fusion: str = "concat"  # "concat": linear over [static, dynamic]; "sum": static + dynamic
    dropout: float = 0.1

    def __post_init__(self) -> None:
        au_names(self.au_set)  # unknown sets fail here, naming the known ones
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; known: {', '.join(FUSIONS)}")
        if self.crop_size % 2 ** len(self.conv_channels):
            raise ValueError(
                f"crop size {self.crop_size} is not divisible by 2^{len(self.conv_channels)}"
            )

    @property
    def num_aus(self) -> int:
        return len(au_names(self.au_set))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> NetworkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown network settings: {', '.join(sorted(unknown))}")
        values = dict(values)
        if "conv_channels" in values:
            values["conv_channels"] = tuple(values["conv_channels"])
        return cls(**values)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    # Positive-class weight per AU is (negatives / positives) from the training labels, capped
    # so an AU with a handful of positives cannot dominate the loss.
    max_positive_weight: float = 20.0
    # Videos are loaded a chunk at a time so the crops of a large data set never all sit in memory.
    frames_per_chunk: int = 50_000
    smoothing_windows: tuple[int, ...] = (1, 3, 5, 9, 15, 25)
    threshold_grid: tuple[float, ...] = field(
        default_factory=lambda: tuple(round(0.05 * i, 2) for i in range(1, 20))
    )
    landmark_backend: str = "dlib"
    device: str = "cpu"  # for landmarks ("fan" wants "cuda") and for the network itself

    def to_dict(self) -> dict:
        return asdict(self)
