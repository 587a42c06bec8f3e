"""The one liveness check of jobs, thread and process alike: a queued or running job whose
process is gone (db.process_gone: no heartbeat for a minute, or its process on this host no
longer exists) is closed as failed the next time anyone asks, so it never blocks the next job
of its kind, and whatever it left on disk is removed. Pages poll through here: a check reads
without the write lock unless a job has to be closed."""

from __future__ import annotations

import logging

import db
from annotator.jobs.kinds import JobKind, JobStatus, kind_named, status_of
from annotator.services.context import Services
from model.errors import InputError

log = logging.getLogger(__name__)


def gone(job: db.Job) -> bool:
    """The job should be working but its process is gone."""
    return job.state in ("queued", "running") and db.process_gone(job)


def fail_if_gone(services: Services, kind: JobKind, job_id: int) -> JobStatus:
    """The job's status, after closing it as failed when its process is gone (checked under
    the write lock: it may have ended meanwhile)."""
    with services.store.write() as session:
        job = db.get_job(session, job_id)
        closed = gone(job)
        if closed:
            db.fail_job(session, job_id, kind.gone)
        status = status_of(job, kind)
    if closed:
        log.warning("%s job %d lost its process; closed as failed", kind.name, job_id)
        if kind.leftovers is not None:
            kind.leftovers(services, job_id)
    return status


def job_status(services: Services, job_id: int) -> JobStatus:
    """Job `job_id`'s status, liveness checked; InputError when there is no such job."""
    with services.store.read() as session:
        job = db.get_job(session, job_id)
        if job is None:
            raise InputError(f"job {job_id}", "no such job in this database")
        kind = kind_named(job.kind)
        if not gone(job):
            return status_of(job, kind)
    return fail_if_gone(services, kind, job_id)


def latest_status(services: Services, kind: JobKind, key: str | None = None) -> JobStatus | None:
    """The newest job of this kind (working on `key`, when given), liveness checked; None when
    there was none."""
    with services.store.read() as session:
        job = db.latest_job(session, kind.name, key)
        if job is None:
            return None
        if not gone(job):
            return status_of(job, kind)
    return fail_if_gone(services, kind, job.id)


def close_gone_jobs(services: Services, kind: JobKind) -> list[int]:
    """Close every queued or running job of this kind whose process is gone; their ids."""
    with services.store.read() as session:
        suspects = [job.id for job in db.active_jobs(session, kind.name) if gone(job)]
    return [job_id for job_id in suspects
            if fail_if_gone(services, kind, job_id).state == "failed"]
