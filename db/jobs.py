"""Jobs: long tasks (processing a video, fine-tuning) whose state and progress the UI polls.

Each call is meant for its own short transaction, so progress is visible to other sessions
and processes while the job runs. A job records the process doing it (host, pid) and a
heartbeat, so a job whose process died can be told from a slow one; a cancel request is a flag
the job's process polls, after which it ends in the state "cancelled".
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Job, utc_now


def create_job(session: Session, kind: str, video_id: int | None = None, message: str = "") -> Job:
    job = Job(kind=kind, state="queued", progress=0.0, message=message, video_id=video_id)
    session.add(job)
    session.flush()
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
    job = _job(session, job_id)
    job.state, job.finished_at, job.message = "cancelled", utc_now(), message
    return job


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


def finish_job(session: Session, job_id: int, message: str = "") -> Job:
    job = _job(session, job_id)
    job.state, job.progress, job.finished_at, job.message = "done", 1.0, utc_now(), message
    return job


def fail_job(session: Session, job_id: int, message: str) -> Job:
    job = _job(session, job_id)
    job.state, job.finished_at, job.message = "failed", utc_now(), message
    return job


def recent_jobs(session: Session, limit: int = 20) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise ValueError(f"no job {job_id}")
    return job
