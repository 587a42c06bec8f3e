"""The fine-tune job's process: `au-annotator finetune --job ID` (started by start_finetune)
or `au-annotator finetune` in the foreground. See annotator.jobs.finetune_launch for the
contract."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Callable

import db
from annotator.jobs import Heartbeat
from annotator.jobs.finetune_launch import JOB_KIND, FinetuneStatus, status_from_job, work_folder
from annotator.learning.finetune_options import FinetuneCancelled, FinetuneError, FinetuneOptions
from annotator.learning.finetuning import FinetuneOutcome, plan_finetune, run_finetune
from annotator.learning.model_versions import models_folder, publish_checkpoint
from model.errors import InputError
from model.training import TrainingProgress, TrainingStopped

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0
CANCELLED = "cancelled; the active model and the labels are as they were"


def run_job(database_url: str, job_id: int,
            echo: Callable[[str], None] | None = None) -> FinetuneStatus:
    """Do queued fine-tune job `job_id` in this process; its end state is in the returned status.

    `echo` receives one line per finished epoch (the command line prints them).
    """
    sessions = db.open_database(database_url)
    options = _claim(sessions, job_id)
    heartbeat = Heartbeat(sessions, job_id)
    work = work_folder(database_url, job_id)
    try:
        if options is None:
            raise FinetuneCancelled
        heartbeat.start()
        with sessions.begin() as session:
            plan = plan_finetune(session, options)
        report = _Reporter(sessions, job_id, echo)
        outcome = run_finetune(plan, options, work, report, heartbeat.cancelled.is_set)
        _publish(sessions, database_url, job_id, outcome, options)
    except (TrainingStopped, FinetuneCancelled, KeyboardInterrupt):
        with sessions.begin() as session:
            db.cancel_job(session, job_id, CANCELLED)
    except (FinetuneError, InputError) as error:
        with sessions.begin() as session:
            db.fail_job(session, job_id, str(error))
    except Exception as error:  # the coder must see the failure, not a job running forever
        logger.exception("fine-tune job %d failed", job_id)
        with sessions.begin() as session:
            db.fail_job(session, job_id, f"fine-tune failed ({type(error).__name__}: {error}); "
                                         "nothing was changed")
    finally:
        heartbeat.stop()
        shutil.rmtree(work, ignore_errors=True)
    with sessions.begin() as session:
        return status_from_job(db.get_job(session, job_id))


def _claim(sessions, job_id: int) -> FinetuneOptions | None:
    """Mark the job running in this process; None when it was cancelled before it started."""
    with sessions.begin() as session:
        job = db.get_job(session, job_id)
        if job is None or job.kind != JOB_KIND:
            raise FinetuneError(f"no fine-tune job {job_id}")
        if job.state != "queued":
            raise FinetuneError(f"fine-tune job {job_id} is {job.state}, not waiting to start")
        db.start_job(session, job_id, "reading the corrections", socket.gethostname(),
                     os.getpid())
        if job.cancel_requested:
            return None
        return FinetuneOptions.from_dict((job.details or {}).get("options", {}))


def _publish(sessions, database_url: str, job_id: int, outcome: FinetuneOutcome,
             options: FinetuneOptions) -> None:
    """The new version and the job's end in one transaction (unless cancelled meanwhile)."""
    path = None
    try:
        with sessions.begin() as session:
            if db.get_job(session, job_id).cancel_requested:
                raise FinetuneCancelled
            path = publish_checkpoint(outcome.checkpoint, models_folder(database_url), job_id)
            version = db.add_model_version(session, path, outcome.au_set, outcome.metrics,
                                           outcome.parent_id, options.note)
            new, parent = outcome.metrics["new"], outcome.metrics["parent"]
            db.update_job_details(session, job_id, version_id=version.id)
            db.finish_job(session, job_id, f"model version {version.id}: held-out "
                          f"{new['metric']} {new['score']:.3f} (was {parent['score']:.3f} "
                          f"with the {parent['predictor']})")
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)  # never referenced by any row
        raise


class _Reporter:
    """Training progress → the job row (batches at most once a second, every epoch's end)."""

    def __init__(self, sessions, job_id: int, echo: Callable[[str], None] | None):
        self.sessions, self.job_id, self.echo = sessions, job_id, echo
        self.last = 0.0
        self.history: list[dict] = []

    def __call__(self, progress: TrainingProgress, held_out: float | None,
                 parent: float) -> None:
        now = time.monotonic()
        if held_out is None and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        where = f"epoch {progress.epoch}/{progress.epochs} · loss {progress.loss:.4f}"
        if held_out is not None:
            self.history.append({"epoch": progress.epoch, "loss": progress.loss,
                                 "held_out": held_out})
        if self.history:
            where += f" · held-out {self.history[-1]['held_out']:.3f} (parent {parent:.3f})"
        record = {"epoch": progress.epoch, "epochs": progress.epochs, "loss": progress.loss,
                  "held_out": self.history[-1]["held_out"] if self.history else None}
        with self.sessions.begin() as session:
            db.report_progress(session, self.job_id, progress.fraction, where)
            db.update_job_details(session, self.job_id, progress=record,
                                  history=list(self.history), parent_score=parent)
        if held_out is not None and self.echo is not None:
            self.echo(where)
