"""The seed AU network: N_Sta + N_Dyn → fusion F → AU query GRU Q → classifier C, its config
(saved whole in every checkpoint) and its training loss.

The seed paper (an FG-2020 ABAW entry: static face texture and landmark dynamics, fused as the
initial hidden state of a GRU that reads a trainable lookup table of AU embeddings) reports 0.56
on the Aff-Wild2 validation set. Input per frame: a 2-channel crop (grayscale, edge) and the
aligned landmark difference L(t+1) − L(t−1). Output: per-AU logits for (absent, present);
`present_probability` turns them into the probability that each AU of the configured set is
present. The loss is a per-AU two-way cross-entropy, positives up-weighted, unannotated pairs
masked.

Fusion F is configurable: "concat" (a linear layer over [static, dynamic]), "sum", or "aspect",
our reading of the authors' reference code (not described in the paper): a table of learnable
"aspect" embeddings (64 there) is read by two GRUs, one started at the static feature and one
at the dynamic feature; self-attention relates all their outputs, and their mean becomes H0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from model.au_sets import CROP_SIZE, DEFAULT_AU_SET, NOT_CODED, NUM_LANDMARKS, au_names

FUSIONS = ("concat", "sum", "aspect")


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
    fusion: str = "concat"  # "concat": linear over [static, dynamic]; "sum"; "aspect" (above)
    dropout: float = 0.1
    aspects: int = 64  # entries of the aspect table ("aspect" fusion only)
    attention_heads: int = 4  # of the self-attention over the aspects; must divide hidden_size

    def __post_init__(self) -> None:
        au_names(self.au_set)  # unknown sets fail here, naming the known ones
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; known: {', '.join(FUSIONS)}")
        if self.fusion == "aspect" and self.hidden_size % self.attention_heads:
            raise ValueError(f"hidden size {self.hidden_size} is not divisible by "
                             f"{self.attention_heads} attention heads")
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


class StaticFeatures(nn.Module):
    """N_Sta: small-receptive-field CNN whose feature map a GRU reads position by position."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        blocks, channels = [], config.in_channels
        for number, out_channels in enumerate(config.conv_channels):
            # The first block halves the size by stride instead of pooling: on CPU a full-size
            # 112×112 feature map costs more than all later layers together.
            stride = 2 if number == 0 else 1
            blocks += [
                nn.Conv2d(channels, out_channels, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            if number > 0:
                blocks.append(nn.MaxPool2d(2))
            channels = out_channels
        self.convs = nn.Sequential(*blocks)
        self.gru = nn.GRU(channels, config.hidden_size, batch_first=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.contiguous(memory_format=torch.channels_last)  # faster convs on CPU
        features = self.convs(images)  # (B, C, h, w)
        positions = features.flatten(2).transpose(1, 2)  # (B, h*w, C), row-major positions
        _, last = self.gru(positions)  # (1, B, H)
        return last[0]  # (B, H)


class DynamicFeatures(nn.Module):
    """N_Dyn: fully connected on the landmark difference; tanh matches the GRU state's scale."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.scale = config.motion_scale
        self.layers = nn.Sequential(
            nn.Linear(config.motion_size, config.hidden_size),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden_size, config.hidden_size),
            nn.Tanh(),
        )

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        return self.layers(motion * self.scale)  # (B, H)


class Fusion(nn.Module):
    """F: static ∪ dynamic → H0 of the AU query GRU, by concatenation or sum."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.project = (
            nn.Linear(2 * config.hidden_size, config.hidden_size)
            if config.fusion == "concat"
            else None
        )

    def forward(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        if self.project is None:
            return static + dynamic  # (B, H)
        return torch.tanh(self.project(torch.cat([static, dynamic], dim=1)))  # (B, H)


class AspectFusion(nn.Module):
    """F through the aspect table: each feature starts a GRU that reads the same learnable
    aspect embeddings, so every aspect is seen from the texture and from the motion;
    self-attention over both readings relates them, and their mean is H0."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        size = config.hidden_size
        self.aspects = nn.Parameter(0.1 * torch.randn(config.aspects, config.embedding_size))
        self.static_reader = nn.GRU(config.embedding_size, size, batch_first=True)
        self.dynamic_reader = nn.GRU(config.embedding_size, size, batch_first=True)
        self.attention = nn.MultiheadAttention(size, config.attention_heads, batch_first=True)
        self.project = nn.Linear(size, size)

    def forward(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        queries = self.aspects.expand(static.shape[0], -1, -1)  # (B, A, E)
        seen_static, _ = self.static_reader(queries, static.unsqueeze(0).contiguous())  # (B, A, H)
        seen_dynamic, _ = self.dynamic_reader(queries, dynamic.unsqueeze(0).contiguous())
        readings = torch.cat([seen_static, seen_dynamic], dim=1)  # (B, 2A, H)
        related, _ = self.attention(readings, readings, readings, need_weights=False)  # (B, 2A, H)
        return torch.tanh(self.project(related.mean(dim=1)))  # (B, H)


class AUQuery(nn.Module):
    """Q + C: a GRU started at the fused feature reads one embedding per AU in fixed order;
    each step's output is classified present/absent by a shared fully connected C."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.embeddings = nn.Parameter(0.1 * torch.randn(config.num_aus, config.embedding_size))
        self.gru = nn.GRU(config.embedding_size, config.hidden_size, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Sequential(
            nn.Linear(config.hidden_size, config.hidden_size),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden_size, 2),
        )

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        queries = self.embeddings.expand(fused.shape[0], -1, -1)  # (B, K, E)
        outputs, _ = self.gru(queries, fused.unsqueeze(0).contiguous())  # (B, K, H)
        return self.classifier(self.dropout(outputs))  # (B, K, 2)


class AUNetwork(nn.Module):
    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        self.static = StaticFeatures(config)
        self.dynamic = DynamicFeatures(config)
        self.fusion = AspectFusion(config) if config.fusion == "aspect" else Fusion(config)
        self.query = AUQuery(config)

    def forward(self, images: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """images (B, 2, S, S) float in [-1, 1], motion (B, 2P) → logits (B, K, 2)."""
        fused = self.fusion(self.static(images), self.dynamic(motion))  # (B, H)
        return self.query(fused)

    @torch.no_grad()
    def present_probability(self, images: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        return functional.softmax(self(images, motion), dim=-1)[..., 1]  # (B, K)


def batch_tensors(images: np.ndarray, motion: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature arrays → network inputs, the same way in training and inference.

    uint8 crops (B, 2, S, S) → float32 in [-1, 1]; motion (B, 2P) with NaN (a neighbour frame
    without a face) → 0, i.e. "no measured movement".
    """
    images = torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1.0)
    motion = torch.from_numpy(np.nan_to_num(np.asarray(motion, dtype=np.float32), nan=0.0))
    return images, motion  # (B, 2, S, S), (B, 2P)


CPU_BATCH = 64  # frames per forward pass on the CPU: a batch's activations stay in cache
# (472 frames: 0.31 s against 0.69 s with 256, the same probabilities)
CUDA_BATCH = 256


def predict_probabilities(
    network: AUNetwork, images: np.ndarray, motion: np.ndarray, face: np.ndarray,
    batch_size: int | None = None,
) -> np.ndarray:
    """(T, K) float32 probability that each AU is present; NaN rows where `face` is False.
    `batch_size`: frames per forward pass (default CPU_BATCH, or CUDA_BATCH on a GPU); the
    probabilities do not depend on it."""
    size = network.config.crop_size
    if images.shape[1:] != (network.config.in_channels, size, size):
        raise ValueError(
            f"feature crops of shape {images.shape[1:]} do not fit a network built for "
            f"({network.config.in_channels}, {size}, {size})"
        )
    probabilities = np.full((len(face), network.config.num_aus), np.nan, dtype=np.float32)
    frames = np.flatnonzero(face)
    device = next(network.parameters()).device
    batch_size = batch_size or (CUDA_BATCH if device.type == "cuda" else CPU_BATCH)
    was_training = network.training
    network.eval()
    for start in range(0, len(frames), batch_size):
        chosen = frames[start : start + batch_size]
        inputs = [tensor.to(device) for tensor in batch_tensors(images[chosen], motion[chosen])]
        probabilities[chosen] = network.present_probability(*inputs).cpu().numpy()
    network.train(was_training)
    return probabilities


def positive_weights(labels: np.ndarray, cap: float) -> np.ndarray:
    """(K,) present-class weight per AU: negatives / positives in `labels` (T, K), -1 skipped.

    Most AUs are absent in most frames; without this a network learns "never present" and still
    scores high accuracy. Capped at `cap`; an AU with no positives at all gets weight 1.
    """
    labels = np.asarray(labels)
    positives = (labels == 1).sum(0).astype(np.float64)
    negatives = (labels == 0).sum(0).astype(np.float64)
    ratio = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    return np.clip(ratio, 1.0, cap).astype(np.float32)


def au_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean cross-entropy over annotated (frame, AU) pairs.

    logits (B, K, 2), labels (B, K) int in {-1, 0, 1}, weights (K,) for the present class.
    """
    annotated = labels != NOT_CODED  # (B, K)
    if not annotated.any():
        return logits.sum() * 0.0  # keeps the graph so a fully masked batch is a no-op step
    targets = labels.clamp(min=0).long()  # (B, K)
    losses = functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, K)
    pair_weights = torch.where(targets == 1, weights.expand_as(losses), torch.ones_like(losses))
    pair_weights = pair_weights * annotated
    return (losses * pair_weights).sum() / pair_weights.sum()
