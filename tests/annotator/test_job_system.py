"""One job system: a thread job and a process job whose process was killed are both found and
closed as failed by the same liveness check, each with its kind's message; the fine-tune's
leftovers go with it."""

from __future__ import annotations

import socket
import subprocess
import sys

import db
from annotator.jobs import PROCESS, job_status
from annotator.jobs.finetune_launch import GONE, JOB_KIND, finetune_status, work_folder
from annotator.jobs.kinds import INTERRUPTED


def killed_pid() -> int:
    """The id of a process of this host that ran and is gone (reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def running_job(services, kind: str, pid: int, details: dict | None = None) -> int:
    with services.store.write() as session:
        job = db.create_job(session, kind, details=details)
        db.start_job(session, job.id, "working", socket.gethostname(), pid)
        return job.id


def test_a_dead_thread_job_and_a_killed_finetune_are_failed_by_the_same_check(services):
    processing = running_job(services, PROCESS, killed_pid(), {"key": "clip"})
    finetune = running_job(services, JOB_KIND, killed_pid(), {"options": {"epochs": 3}})
    work_folder(services, finetune).mkdir(parents=True)

    seen = {job: job_status(services, job) for job in (processing, finetune)}

    assert {job: (s.state, s.message) for job, s in seen.items()} == {
        processing: ("failed", INTERRUPTED), finetune: ("failed", GONE)}
    assert not work_folder(services, finetune).exists()
    assert finetune_status(services).details.epoch.epochs == 3  # still readable afterwards


def test_a_job_whose_process_lives_is_left_running(services):
    alive = running_job(services, PROCESS, 1)  # init: never gone
    assert job_status(services, alive).state == "running"
