"""Running a job's work, the same way in a thread of the app server and in a process of its
own: claim the queued row for this process (host, pid), beat its heartbeat every
db.HEARTBEAT_S, pass the work a `Progress` (progress → the row; the row's cancel flag →
`cancelled()`), and end the row: done with the work's outcome, cancelled, or failed with a
message the coder can read. A thread kind is started by `start_in_thread`; a process kind's
process calls `run_job` itself (annotator.jobs.finetune_process)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import db
from annotator.jobs.kinds import JobCancelled, JobKind, JobStatus, Outcome, status_of
from annotator.jobs.liveness import gone
from annotator.learning.adaptation import AdaptationError
from annotator.learning.finetune_options import FinetuneCancelled, FinetuneError
from annotator.services.context import Services
from model.errors import InputError
from model.learners import LearningCancelled

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # database writes while working: often enough for a live bar
# errors that say what went wrong in the coder's words: their message is the job's
TOLD = (InputError, FinetuneError, AdaptationError)
# (a learner's LearningCancelled covers model.training's TrainingStopped)
STOPPED = (JobCancelled, FinetuneCancelled, LearningCancelled, KeyboardInterrupt)


class Heartbeat:
    """Beats a job's heartbeat from a thread and notices a cancel request."""

    def __init__(self, store: db.Store, job_id: int):
        self.store, self.job_id = store, job_id
        self.cancelled, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-heartbeat",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(db.HEARTBEAT_S):
            try:
                with self.store.write() as session:
                    if db.beat(session, self.job_id).cancel_requested:
                        self.cancelled.set()
            except Exception:  # a busy database now and then must not end the job
                log.warning("job %d: heartbeat failed", self.job_id, exc_info=True)


class Progress:
    """What the work reports through: `progress(done, total, message)` → the job row at most
    every PROGRESS_EVERY_S; `write` stores at once (with details to merge); `cancelled()`."""

    def __init__(self, store: db.Store, job_id: int, heartbeat: Heartbeat):
        self.store, self.job_id, self.heartbeat, self.last = store, job_id, heartbeat, 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and done < total:
            return
        self.last = now
        self.write(done / max(total, 1), message)

    def write(self, fraction: float, message: str, **details) -> None:
        with self.store.write() as session:
            db.report_progress(session, self.job_id, fraction, message)
            if details:
                db.update_job_details(session, self.job_id, **details)

    def cancelled(self) -> bool:
        return self.heartbeat.cancelled.is_set()


Work = Callable[[Progress], Outcome]


def start_in_thread(services: Services, kind: JobKind, work: Work, key: str | None = None,
                    message: str = "waiting to start", again: bool = False) -> int:
    """Start `work` as a job of `kind` in a thread of this process; returns its id. With
    `key`, the job of this kind and key already queued or running is returned instead (asked
    `again`, it runs its work once more when it ends)."""
    with services.store.write() as session:
        running = db.active_job(session, kind.name, key) if key is not None else None
        if running is not None and gone(running):  # the server restarted: start afresh
            db.fail_job(session, running.id, kind.gone)
            running = None
        if running is not None:
            if again:
                db.update_job_details(session, running.id, again=True)
            return running.id
        job_id = db.create_job(session, kind.name, message=message, details={"key": key}).id
        db.set_job_process(session, job_id, socket.gethostname(), os.getpid())
    threading.Thread(target=run_job, args=(services, kind, job_id, work),
                     name=f"{kind.name}-job-{job_id}", daemon=True).start()
    return job_id


def run_job(services: Services, kind: JobKind, job_id: int, work: Work) -> JobStatus:
    """Do queued job `job_id` in this process; its end state is in the returned status."""
    store = services.store
    heartbeat = Heartbeat(store, job_id)
    cancelled_before = _claim(store, kind, job_id)
    try:
        if cancelled_before:
            raise JobCancelled
        heartbeat.start()
        while not _finish(store, job_id, work(Progress(store, job_id, heartbeat))):
            pass  # asked again while it ran: the newest request is served
    except STOPPED:
        _end(services, kind, job_id, db.cancel_job, kind.cancelled)
    except TOLD as error:
        _end(services, kind, job_id, db.fail_job, str(error))
    except Exception as error:  # the coder must see the failure, not a job running forever
        log.exception("%s job %d failed", kind.name, job_id)
        _end(services, kind, job_id, db.fail_job,
             f"{kind.failed} ({type(error).__name__}: {error}); nothing was changed")
    finally:
        heartbeat.stop()
    with store.read() as session:
        return status_of(db.get_job(session, job_id), kind)


def _claim(store: db.Store, kind: JobKind, job_id: int) -> bool:
    """Mark the job running in this process; True when it was cancelled before it started.
    FinetuneError (the command line prints it) when it is no such job or not queued."""
    with store.write() as session:
        job = db.get_job(session, job_id)
        if job is None or job.kind != kind.name:
            raise FinetuneError(f"no {kind.name} job {job_id}")
        if job.state != "queued":
            raise FinetuneError(f"{kind.name} job {job_id} is {job.state}, not waiting to start")
        db.start_job(session, job_id, kind.starting, socket.gethostname(), os.getpid())
        return bool(job.cancel_requested)


def _finish(store: db.Store, job_id: int, outcome: Outcome) -> bool:
    """End the job with `outcome`; False (nothing ended) when it was asked for again."""
    try:
        with store.write() as session:
            job = db.get_job(session, job_id)
            if job.cancel_requested:
                raise JobCancelled
            if db.JobDetails.from_json(job.details).again:
                db.update_job_details(session, job_id, again=False)
                return False
            message = outcome.publish(session) if outcome.publish else outcome.message
            db.update_job_details(session, job_id, result=outcome.result)
            db.finish_job(session, job_id, message, video_id=outcome.video_id)
            return True
    except BaseException:
        if outcome.discard is not None:
            outcome.discard()
        raise


def _end(services: Services, kind: JobKind, job_id: int, end, message: str) -> None:
    """Record a cancelled or failed end, the kind's leftovers removed first: whoever sees the
    end ("nothing was changed") never sees them."""
    if kind.leftovers is not None:
        kind.leftovers(services, job_id)
    with services.store.write() as session:
        end(session, job_id, message)
