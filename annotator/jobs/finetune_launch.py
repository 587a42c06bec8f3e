"""Launching a fine-tune as a job: one at a time, in its own process, visible and cancellable
through the database's jobs table. The process itself is annotator.jobs.finetune_process.

`start_finetune` creates the job row (refused while another fine-tune is queued or running;
the database's unique index on active fine-tune jobs makes the refusal hold even for two
requests at the same instant) and starts `au-annotator finetune --job ID` as a separate
process, so the app's page reloads and reruns never touch it. The process writes its progress
to the row, beats a heartbeat every db.HEARTBEAT_S and polls the row's cancel flag. Whatever
stops it early (cancel, error, crash, kill) leaves the model versions, the active model and
the labels as they were: the new version is stored, with the job's end, in one transaction
only after training finished. A job whose process is gone is closed as failed the next time
anyone asks, so it never blocks the next fine-tune.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import db
from annotator.learning.finetune_options import FinetuneBusy, FinetuneError, FinetuneOptions
from annotator.learning.model_versions import models_folder

logger = logging.getLogger(__name__)

JOB_KIND = "finetune"


@dataclass(frozen=True)
class FinetuneStatus:
    job_id: int
    state: str  # queued, running, done, failed, cancelled
    progress: float  # 0..1 over all epochs
    message: str  # one line for the coder, e.g. "epoch 2/5 · loss 0.41 · held-out 0.62"
    epoch: int
    epochs: int
    loss: float | None  # mean batch loss of the current (or last) epoch
    held_out_score: float | None  # after the last finished epoch
    parent_score: float | None  # the parent predictor's held-out score (known once started)
    history: list[dict]  # per finished epoch: epoch, loss, held_out
    cancel_requested: bool
    version_id: int | None  # the new model version, once done
    started_by: str | None = None  # the coder who started it

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


def work_folder(database_url: str, job_id: int) -> Path:
    """Scratch space of one job's process; removed when the job ends, however it ends."""
    return models_folder(database_url) / f".job-{job_id}"


def create_finetune_job(database_url: str, options: FinetuneOptions | None = None,
                        started_by: str | None = None) -> int:
    """The job row for a new fine-tune; FinetuneBusy while another one is queued or running.
    `started_by`: the coder who asked (they, or an administrator, may cancel it)."""
    options = options or FinetuneOptions()
    close_dead_jobs(database_url)
    try:
        with db.open_database(database_url).begin() as session:
            running = db.active_jobs(session, JOB_KIND)
            if running:
                raise FinetuneBusy(_busy_message(running[0]))
            job_id = db.create_job(session, JOB_KIND, message="waiting to start",
                                   details={"options": options.to_dict(),
                                            "started_by": started_by}).id
    except db.JobBusy:  # another request created one between our check and insert
        raise FinetuneBusy("another fine-tune was started at the same moment") from None
    return job_id


def start_finetune(database_url: str, options: FinetuneOptions | None = None,
                   started_by: str | None = None) -> int:
    """Start a fine-tune in the background; returns the job id to poll with finetune_status."""
    job_id = create_finetune_job(database_url, options, started_by)
    logs = models_folder(database_url) / "logs"
    # The URL travels in the environment, not the command line, where `ps` would show a password.
    environment = {**os.environ, "AU_ANNOTATOR_DB": database_url}
    try:
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"finetune-job{job_id}.log", "ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "annotator.cli", "finetune", "--job", str(job_id)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,  # a Ctrl-C in the app's terminal is not meant for it
            )
    except OSError as error:
        with db.open_database(database_url).begin() as session:
            db.fail_job(session, job_id, f"could not start the fine-tune process ({error})")
        raise FinetuneError(f"could not start the fine-tune process ({error})") from None
    # reap the child when it ends, so a dead worker never lingers as a zombie "alive" pid
    threading.Thread(target=child.wait, name=f"finetune-{job_id}-reaper", daemon=True).start()
    with db.open_database(database_url).begin() as session:
        db.set_job_process(session, job_id, socket.gethostname(), child.pid)
    return job_id


def cancel_finetune(database_url: str, job_id: int | None = None) -> FinetuneStatus | None:
    """Ask the running fine-tune (or job `job_id`) to stop; its process ends it as cancelled."""
    with db.open_database(database_url).begin() as session:
        job = _job_or_latest(session, job_id)
        if job is None:
            return None
        db.request_cancel(session, job.id)
        job_id = job.id
    return finetune_status(database_url, job_id)


def finetune_status(database_url: str, job_id: int | None = None) -> FinetuneStatus | None:
    """A fine-tune job's state (default: the latest one); None when there has been none."""
    close_dead_jobs(database_url)
    with db.open_database(database_url, read_only=True).begin() as session:
        job = _job_or_latest(session, job_id)
        return None if job is None else status_from_job(job)


def close_dead_jobs(database_url: str) -> list[int]:
    """Close queued or running fine-tunes whose process is gone; returns their ids."""
    closed = []
    with db.open_database(database_url, read_only=True).begin() as session:  # pages poll this
        if not any(db.process_gone(job) for job in db.active_jobs(session, JOB_KIND)):
            return closed
    with db.open_database(database_url).begin() as session:  # checked again under the lock
        for job in db.active_jobs(session, JOB_KIND):
            if db.process_gone(job):
                db.fail_job(session, job.id, "the fine-tune process stopped unexpectedly "
                            "(killed or crashed); nothing was changed")
                closed.append(job.id)
    for job_id in closed:
        logger.warning("fine-tune job %d lost its process; closed as failed", job_id)
        shutil.rmtree(work_folder(database_url, job_id), ignore_errors=True)
    return closed


def _job_or_latest(session, job_id: int | None) -> db.Job | None:
    if job_id is not None:
        job = db.get_job(session, job_id)
        if job is None or job.kind != JOB_KIND:
            raise FinetuneError(f"no fine-tune job {job_id}")
        return job
    return db.latest_job(session, JOB_KIND)


def status_from_job(job: db.Job) -> FinetuneStatus:
    details = job.details or {}
    now = details.get("progress", {})
    return FinetuneStatus(
        job_id=job.id, state=job.state, progress=job.progress, message=job.message,
        epoch=int(now.get("epoch", 0)),
        epochs=int(now.get("epochs", details.get("options", {}).get("epochs", 0))),
        loss=now.get("loss"), held_out_score=now.get("held_out"),
        parent_score=details.get("parent_score"), history=list(details.get("history", [])),
        cancel_requested=bool(job.cancel_requested), version_id=details.get("version_id"),
        started_by=details.get("started_by"),
    )


def _busy_message(job: db.Job) -> str:
    since = (job.started_at or job.created_at).strftime("%H:%M UTC")
    return (f"a fine-tune is already {job.state} (job {job.id}, since {since}: {job.message}); "
            "wait for it to finish or cancel it")
