"""The fine-tune job's process: `au-annotator finetune --job ID` (started by start_finetune)
or `au-annotator finetune` in the foreground. It runs the fine-tune kind's work through
annotator.jobs.runner like any job; see annotator.jobs.finetune_launch for the contract."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import db
from annotator.jobs import runner
from annotator.jobs.finetune_launch import FINETUNE, work_folder
from annotator.jobs.kinds import JobStatus, Outcome
from annotator.jobs.runner import Progress
from annotator.learning.finetune_options import FinetuneOptions
from annotator.learning.finetuning import FinetuneOutcome, plan_finetune, run_finetune
from annotator.learning.model_versions import publish_checkpoint
from annotator.services.context import Services
from model.learners import LearnStep
from model.training import TrainingProgress

PROGRESS_EVERY_S = 1.0


def run_job(services: Services, job_id: int,
                     echo: Callable[[str], None] | None = None) -> JobStatus:
    """Do queued fine-tune job `job_id` in this process; its end state is in the returned status.

    `echo` receives one line per finished epoch (the command line prints them).
    """
    work = work_folder(services, job_id)
    try:
        return runner.run_job(services, FINETUNE, job_id,
                              _finetune_work(services, job_id, work, echo))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _finetune_work(services: Services, job_id: int, work: Path,
                   echo: Callable[[str], None] | None):
    def finetune(progress: Progress) -> Outcome:
        with services.store.write() as session:
            details = db.FinetuneDetails.from_json(db.get_job(session, job_id).details)
            options = FinetuneOptions.from_dict(details.options)
            plan = plan_finetune(session, options)
        report = _Reporter(progress, echo)
        outcome = run_finetune(plan, options, work, report, progress.cancelled, report.stage)
        return _publishing(services, job_id, outcome, options)

    return finetune


def _publishing(services: Services, job_id: int, outcome: FinetuneOutcome,
                options: FinetuneOptions) -> Outcome:
    """The new version, stored in the transaction that ends the job; its file removed again
    when that transaction fails."""
    published: list[Path] = []

    def publish(session: db.Session) -> str:
        path = publish_checkpoint(outcome.checkpoint, services.models_folder, job_id)
        published.append(path)
        version = db.add_model_version(session, path, outcome.au_set, outcome.metrics,
                                       outcome.parent_id, options.note)
        new, parent = outcome.metrics["new"], outcome.metrics["parent"]
        db.update_job_details(session, job_id, version_id=version.id)
        return (f"model version {version.id}: held-out {new['metric']} {new['score']:.3f} "
                f"(was {parent['score']:.3f} with the {parent['predictor']})")

    def discard() -> None:
        for path in published:
            path.unlink(missing_ok=True)  # never referenced by any row

    return Outcome(publish=publish, discard=discard)


class _Reporter:
    """Training progress → the job row (batches at most once a second, every epoch's end)."""

    def __init__(self, progress: Progress, echo: Callable[[str], None] | None):
        self.progress, self.echo = progress, echo
        self.last = 0.0
        self.history: list[dict] = []

    def stage(self, step: LearnStep) -> None:
        """A step before the training (reading frames, distilling the parent), its epoch and
        loss when it has them; batches at most once a second."""
        now = time.monotonic()
        if isinstance(step.detail, TrainingProgress):
            if now - self.last < PROGRESS_EVERY_S:
                return
            where = (f"{step.stage} · epoch {step.detail.epoch}/{step.detail.epochs} · "
                     f"loss {step.detail.loss:.4f}")
        else:
            where = step.stage
        self.last = now
        self.progress.write(step.fraction, where)

    def __call__(self, training: TrainingProgress, held_out: float | None,
                 parent: float) -> None:
        now = time.monotonic()
        if held_out is None and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        where = f"epoch {training.epoch}/{training.epochs} · loss {training.loss:.4f}"
        if held_out is not None:
            self.history.append({"epoch": training.epoch, "loss": training.loss,
                                 "held_out": held_out})
        if self.history:
            where += f" · held-out {self.history[-1]['held_out']:.3f} (parent {parent:.3f})"
        record = db.EpochRecord(training.epoch, training.epochs, training.loss,
                                self.history[-1]["held_out"] if self.history else None)
        self.progress.write(training.fraction, where, progress=asdict(record),
                            history=list(self.history), parent_score=parent)
        if held_out is not None and self.echo is not None:
            self.echo(where)
