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
from dataclasses import asdict
from pathlib import Path

import db
from annotator.jobs.kinds import JobKind, JobStatus, register, status_of
from annotator.jobs.liveness import close_gone_jobs
from annotator.learning.finetune_options import FinetuneBusy, FinetuneError, FinetuneOptions
from annotator.services.context import Services

logger = logging.getLogger(__name__)

JOB_KIND = "finetune"
GONE = "the fine-tune process stopped unexpectedly (killed or crashed); nothing was changed"


def work_folder(services: Services, job_id: int) -> Path:
    """Scratch space of one job's process; removed when the job ends, however it ends."""
    return services.models_folder / f".job-{job_id}"


def _remove_work_folder(services: Services, job_id: int) -> None:
    shutil.rmtree(work_folder(services, job_id), ignore_errors=True)


FINETUNE = register(JobKind(
    JOB_KIND, "process", db.FinetuneDetails, starting="reading the corrections",
    failed="fine-tune failed", cancelled="cancelled; the active model and the labels are as "
    "they were", gone=GONE, leftovers=_remove_work_folder))


def create_finetune_job(services: Services, options: FinetuneOptions | None = None,
                        started_by: str | None = None) -> int:
    """The job row for a new fine-tune; FinetuneBusy while another one is queued or running.
    `started_by`: the coder who asked (they, or an administrator, may cancel it)."""
    options = options or FinetuneOptions()
    close_gone_jobs(services, FINETUNE)
    try:
        with services.store.write() as session:
            running = db.active_jobs(session, JOB_KIND)
            if running:
                raise FinetuneBusy(_busy_message(running[0]))
            job_id = db.create_job(session, JOB_KIND, message="waiting to start",
                                   details=asdict(db.FinetuneDetails(
                                       options=options.to_dict(), started_by=started_by))).id
    except db.JobBusy:  # another request created one between our check and insert
        raise FinetuneBusy("another fine-tune was started at the same moment") from None
    return job_id


def start_finetune(services: Services, options: FinetuneOptions | None = None,
                   started_by: str | None = None) -> int:
    """Start a fine-tune in the background; returns the job id to poll with finetune_status."""
    job_id = create_finetune_job(services, options, started_by)
    logs = services.models_folder / "logs"
    # The URL travels in the environment, not the command line, where `ps` would show a password.
    environment = {**os.environ, "AU_ANNOTATOR_DB": services.store.url}
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
        with services.store.write() as session:
            db.fail_job(session, job_id, f"could not start the fine-tune process ({error})")
        raise FinetuneError(f"could not start the fine-tune process ({error})") from None
    # reap the child when it ends, so a dead worker never lingers as a zombie "alive" pid
    threading.Thread(target=child.wait, name=f"finetune-{job_id}-reaper", daemon=True).start()
    with services.store.write() as session:
        db.set_job_process(session, job_id, socket.gethostname(), child.pid)
    return job_id


def cancel_finetune(services: Services, job_id: int | None = None) -> JobStatus | None:
    """Ask the running fine-tune (or job `job_id`) to stop; its process ends it as cancelled."""
    with services.store.write() as session:
        job = _job_or_latest(session, job_id)
        if job is None:
            return None
        db.request_cancel(session, job.id)
        job_id = job.id
    return finetune_status(services, job_id)


def finetune_status(services: Services, job_id: int | None = None) -> JobStatus | None:
    """A fine-tune job's state (default: the latest one); None when there has been none.
    Its figures (epoch, loss, held-out scores, the version made) are in `details`
    (db.FinetuneDetails)."""
    close_gone_jobs(services, FINETUNE)
    with services.store.read() as session:
        job = _job_or_latest(session, job_id)
        return None if job is None else status_of(job, FINETUNE)


def _job_or_latest(session, job_id: int | None) -> db.Job | None:
    if job_id is not None:
        job = db.get_job(session, job_id)
        if job is None or job.kind != JOB_KIND:
            raise FinetuneError(f"no fine-tune job {job_id}")
        return job
    return db.latest_job(session, JOB_KIND)


def _busy_message(job: db.Job) -> str:
    since = (job.started_at or job.created_at).strftime("%H:%M UTC")
    return (f"a fine-tune is already {job.state} (job {job.id}, since {since}: {job.message}); "
            "wait for it to finish or cancel it")
