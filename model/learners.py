"""The learner contract: what learns from coders' reviewed frames, starting from a prior.

Two learners keep it. In-video adaptation (model.adapt.InVideoAdaptation) fits small per-AU
models on one video's reviewed frames, in seconds, with that video's pre-fill as the prior;
fine-tuning (annotator.learning.finetuning.Finetuning) trains a network version on every
reviewed video, warm-started from the parent predictor. Each `fit(reviewed, prior, progress)`:

- learns from `reviewed` (the learner's own form of the reviewed frames) and never moves an AU
  the frames say nothing about away from `prior` (an AUPredictor, model.predictors);
- calls `progress` with a LearnStep as it goes; when the call returns True, learning stops at
  the next safe point with LearningCancelled, and nothing is returned (so nothing is stored);
- returns a LearnOutcome naming the AUs it learnt (the others keep the prior's output).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from model.predictors import AUPredictor


@dataclass(frozen=True)
class LearnStep:
    """Where learning stands."""

    fraction: float  # 0..1 of this stage
    stage: str  # what is being done, in a coder's words: "distilling", "learning AU12"
    detail: object = None  # the learner's own record of the step (model.training.TrainingProgress)


# Called as learning goes; returning True asks it to stop (LearningCancelled).
Progress = Callable[[LearnStep], bool]


def no_progress(step: LearnStep) -> bool:
    """A Progress for a caller that neither watches nor cancels."""
    return False


class LearningCancelled(Exception):
    """The progress callback asked learning to stop; nothing was learnt."""


def announce(progress: Progress, step: LearnStep) -> None:
    """Tell `progress` where learning stands; LearningCancelled when it asks to stop."""
    if progress(step):
        raise LearningCancelled(f"stopped while {step.stage}")


class LearnOutcome(Protocol):
    """What a learner gives back."""

    @property
    def learnt_aus(self) -> list[str]: ...  # the AUs learnt; the others keep the prior's output


ReviewedT = TypeVar("ReviewedT", contravariant=True)
PriorT = TypeVar("PriorT", bound=AUPredictor, contravariant=True)


class Learner(Protocol[ReviewedT, PriorT]):
    """Fits on reviewed frames with a prior; see the module's contract."""

    kind: str  # what its predictions are called in a stored run or model version

    def fit(self, reviewed: ReviewedT, prior: PriorT,
            progress: Progress = no_progress) -> LearnOutcome: ...
