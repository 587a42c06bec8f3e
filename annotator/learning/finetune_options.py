"""What a fine-tune is asked to do, and the errors it can end with."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # model.training imports torch: not for every command that reads options
    from model.training import TrainingConfig


class FinetuneError(Exception):
    """A fine-tune cannot run as asked (no corrections, nothing to hold out...); the message
    says what to do."""


class FinetuneBusy(FinetuneError):
    """Another fine-tune is queued or running: only one at a time."""


class FinetuneCancelled(Exception):
    """The coder cancelled the fine-tune; nothing was stored."""


@dataclass(frozen=True)
class FinetuneOptions:
    """Options of one fine-tune; stored with its job, so the job's process reads them back."""

    coder: str | None = None  # whose corrections; None: every coder's
    videos: tuple[int, ...] = ()  # video ids to use (train and held out); empty: all reviewed
    held_out: tuple[int, ...] = ()  # video ids to hold out; empty: chosen automatically
    held_out_share: float = 0.25  # of the reviewed videos, when chosen automatically
    epochs: int = 5
    learning_rate: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    device: str = "cpu"
    # A new network (no active model version yet): its NetworkConfig fields, and the epochs it
    # is distilled from the geometry baseline before it learns from the reviewed frames
    network: dict | None = None
    distil_epochs: int = 3
    note: str = ""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise FinetuneError(f"epochs must be at least 1, not {self.epochs}")
        if not 0.0 < self.held_out_share < 1.0:
            raise FinetuneError(f"held-out share must be between 0 and 1, not "
                                f"{self.held_out_share}")

    def training_config(self, landmark_backend: str) -> TrainingConfig:
        from model.training import TrainingConfig

        return TrainingConfig(
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
            seed=self.seed, landmark_backend=landmark_backend, device=self.device,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FinetuneOptions:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        for name in ("videos", "held_out"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)
