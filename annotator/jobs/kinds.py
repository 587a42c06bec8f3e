"""The job contract: a kind of job, the status every job reports, and what a job's work
returns.

A `JobKind` names the kind (the jobs table's `kind`), says where its work runs (a thread of
the app server, or a process of its own), how its details are read (db.JobDetails or a
subclass: one dataclass per kind, defaults in db.details), and what is stored when the job
stops: cancelled on request, or failed because the process doing it is gone. The work itself
is a function `work(progress) -> Outcome`: it reports through `progress(done, total, message)`
and stops when `progress.cancelled()` (annotator.jobs.runner runs it, the same way for both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import db
from annotator.services.context import Services

FINISHED = ("done", "failed", "cancelled")
INTERRUPTED = "interrupted: the app stopped while this ran; start it again to resume"
CANCELLED = "cancelled; nothing was changed"


@dataclass(frozen=True)
class JobKind:
    name: str  # the jobs table's `kind`
    runs_in: Literal["thread", "process"]
    details: type[db.JobDetails] = db.JobDetails
    starting: str = "starting"  # the message while the work sets out
    failed: str = "failed"  # how an unexpected error's message starts
    cancelled: str = CANCELLED
    gone: str = INTERRUPTED  # stored when the process doing the job is found gone
    # scratch space removed before a cancelled or failed end is recorded, and once the job is
    # found gone (its process could not)
    leftovers: Callable[[Services, int], object] | None = None


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Make `kind` known by its name (the module defining a kind registers it)."""
    _KINDS[kind.name] = kind
    return kind


def kind_named(name: str) -> JobKind:
    return _KINDS[name]


@dataclass(frozen=True)
class JobStatus:
    """What a page or a command shows of a job."""

    job_id: int
    kind: str
    state: str  # queued, running, done, failed, cancelled
    progress: float  # 0..1
    message: str  # one line for the coder
    video_id: int | None
    cancel_requested: bool
    details: db.JobDetails  # the kind's details (db.FinetuneDetails for fine-tunes)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def running(self) -> bool:
        return not self.finished

    @property
    def result(self) -> dict | None:
        """What a finished job reports (activation: the videos re-run)."""
        return self.details.result


def status_of(job: db.Job, kind: JobKind) -> JobStatus:
    return JobStatus(job.id, job.kind, job.state, job.progress, job.message, job.video_id,
                     bool(job.cancel_requested), kind.details.from_json(job.details))


@dataclass(frozen=True)
class Outcome:
    """What finished work reports. `publish`, when given, stores what the work made in the
    transaction that ends the job (never when the job was cancelled meanwhile) and returns the
    job's last message; `discard` undoes what publishing left outside the database when that
    transaction fails."""

    message: str = ""
    result: dict | None = None
    video_id: int | None = None
    publish: Callable[[db.Session], str] | None = None
    discard: Callable[[], None] | None = None


class JobCancelled(Exception):
    """The job's work saw a cancel request and stopped; it ends as cancelled."""
