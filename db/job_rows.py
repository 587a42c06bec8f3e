"""Jobs: long tasks (processing a video, fine-tuning) whose state and progress the UI polls.

Each call is meant for its own short transaction, so progress is visible to other sessions
and processes while the job runs. A job records the process doing it (host, pid) and a
heartbeat, so a job whose process died can be told from a slow one; a cancel request is a flag
the job's process polls, after which it ends in the state "cancelled".
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.tables import Job, utc_now


class JobBusy(Exception):
    """A job of a kind that runs one at a time is already queued or running."""


def create_job(session: Session, kind: str, video_id: int | None = None, message: str = "",
               details: dict | None = None) -> Job:
    """A queued job; JobBusy (the transaction is then spoilt) when its kind runs one at a time
    and another is queued or running: the database's unique index decides, so two requests at
    the same instant cannot both get one."""
    job = Job(kind=kind, state="queued", progress=0.0, message=message, video_id=video_id,
              details=details)
    session.add(job)
    try:
        session.flush()
    except IntegrityError:
        raise JobBusy(f"a {kind} job is already queued or running") from None
    return job


def start_job(
    session: Session, job_id: int, message: str = "", host: str | None = None,
    pid: int | None = None,
) -> Job:
    job = _job(session, job_id)
    job.state, job.started_at, job.message = "running", utc_now(), message
    job.host, job.pid, job.heartbeat_at = host, pid, job.started_at
    return job


def beat(session: Session, job_id: int) -> Job:
    """The job's process is alive; returns the job (its cancel_requested may have been set)."""
    job = _job(session, job_id)
    job.heartbeat_at = utc_now()
    return job


def request_cancel(session: Session, job_id: int) -> Job:
    """Ask the job's process to stop; it ends the job as "cancelled" when it sees the flag."""
    job = _job(session, job_id)
    if job.state in ("queued", "running"):
        job.cancel_requested = True
    return job


def cancel_job(session: Session, job_id: int, message: str) -> Job:
    return _end(session, job_id, "cancelled", message)


def active_jobs(session: Session, kind: str) -> list[Job]:
    """Queued or running jobs of one kind, oldest first."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.kind == kind, Job.state.in_(("queued", "running")))
            .order_by(Job.id)
        )
    )


def report_progress(session: Session, job_id: int, progress: float, message: str = "") -> Job:
    job = _job(session, job_id)
    job.progress = min(max(float(progress), 0.0), 1.0)
    job.message = message
    return job


def finish_job(session: Session, job_id: int, message: str = "",
               video_id: int | None = None) -> Job:
    """The job is done; `video_id` records the video it produced (processing)."""
    job = _end(session, job_id, "done", message)
    job.progress = 1.0
    if video_id is not None:
        job.video_id = video_id
    return job


def fail_job(session: Session, job_id: int, message: str) -> Job:
    return _end(session, job_id, "failed", message)


def _end(session: Session, job_id: int, state: str, message: str) -> Job:
    job = _job(session, job_id)
    job.state, job.finished_at, job.message = state, utc_now(), message
    return job


def recent_jobs(session: Session, limit: int = 20) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def latest_job(session: Session, kind: str, key: str | None = None) -> Job | None:
    """The newest job of one kind (working on `key`, when given), whatever its state."""
    query = select(Job).where(Job.kind == kind)
    if key is not None:
        query = query.where(Job.details["key"].as_string() == key)
    return session.scalar(query.order_by(Job.id.desc()).limit(1))


def set_job_process(session: Session, job_id: int, host: str, pid: int) -> Job:
    """Record the process started for a queued job (so its death can be noticed)."""
    job = _job(session, job_id)
    if job.state == "queued":
        job.host, job.pid = host, pid
    return job


def update_job_details(session: Session, job_id: int, **values) -> Job:
    """Merge `values` into the job's JSON details (options, progress record, result)."""
    job = _job(session, job_id)
    job.details = {**(job.details or {}), **values}
    return job


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise ValueError(f"no job {job_id}")
    return job


def active_job(session: Session, kind: str, key: str) -> Job | None:
    """The queued or running job of this kind working on `key` (a video's content, ...)."""
    return next((job for job in active_jobs(session, kind)
                 if (job.details or {}).get("key") == key), None)


HEARTBEAT_S = 2.0  # how often a job's process beats its heartbeat
STALE_AFTER = timedelta(seconds=60)  # no heartbeat this long: the job's process is gone


def process_gone(job: Job, stale_after: timedelta = STALE_AFTER) -> bool:
    """The job's process stopped: no heartbeat for `stale_after`, or its process on this host
    no longer exists (a server or worker killed, crashed, or restarted)."""
    last_sign = job.heartbeat_at or job.started_at or job.created_at
    if utc_now() - last_sign > stale_after:
        return True
    if job.pid is None or job.host != socket.gethostname():
        return False
    return not _pid_alive(job.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0) but is gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
