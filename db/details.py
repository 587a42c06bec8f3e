"""The JSON columns read through typed classes, each key's default written here once.

A row written by an older au-annotator may lack keys added since: reading fills them with the
defaults below, and keys this version does not know are kept as they are on the next write
(`update_job_details` merges).

- a job's details (jobs.details): `JobDetails` for every kind, `FinetuneDetails` for
  fine-tunes (their options, the progress record, each epoch's scores, the version made);
- a prediction run's extra details (prediction_runs.parameters["details"]): `RunDetails`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Self

DEFAULT_LANDMARK_BACKEND = "dlib"  # what runs stored before the backend was recorded used


def _known(cls, data: dict | None) -> dict:
    names = {f.name for f in fields(cls)}
    return {name: value for name, value in (data or {}).items() if name in names}


@dataclass(frozen=True)
class JobDetails:
    """What every job keeps: the key it works on (one job at a time per key), whether it was
    asked for again while it ran, and what it reports when done."""

    key: str | None = None
    again: bool = False
    result: dict | None = None

    @classmethod
    def from_json(cls, data: dict | None) -> Self:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class EpochRecord:
    """Where a fine-tune is: its epoch, the mean batch loss, the last held-out score."""

    epoch: int = 0
    epochs: int = 0
    loss: float | None = None
    held_out: float | None = None


@dataclass(frozen=True)
class FinetuneDetails(JobDetails):
    options: dict[str, Any] = field(default_factory=dict)  # FinetuneOptions.to_dict()
    progress: EpochRecord | None = None
    history: list[dict] = field(default_factory=list)  # per finished epoch: epoch, loss, held_out
    parent_score: float | None = None  # the parent predictor's held-out score
    version_id: int | None = None  # the model version made, once done
    started_by: str | None = None  # the coder who started it

    @classmethod
    def from_json(cls, data: dict | None) -> Self:
        known = _known(cls, data)
        if known.get("progress") is not None:
            known["progress"] = EpochRecord(**_known(EpochRecord, known["progress"]))
        return cls(**known)

    @property
    def epoch(self) -> EpochRecord:
        """The progress record; before the first one, epoch 0 of the epochs asked for."""
        return self.progress or EpochRecord(epochs=int(self.options.get("epochs", 0)))


@dataclass(frozen=True)
class RunDetails:
    """What a prediction run records besides its thresholds and smoothing (the predictor's own
    settings too, which are not read back)."""

    landmark_backend: str = DEFAULT_LANDMARK_BACKEND
    version: str | None = None  # the predictor's version label
    prior_run: int | None = None  # adapted runs: the run they learnt from
    reports: list[dict] = field(default_factory=list)  # adapted runs: per AU, what was learnt

    @classmethod
    def from_json(cls, data: dict | None) -> Self:
        return cls(**_known(cls, data))
