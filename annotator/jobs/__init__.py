"""Long work as rows of one jobs table, so the page never waits and a restart forgets nothing.

One contract for every kind of job (annotator.jobs.kinds: `JobKind`, `JobStatus`, `Outcome`),
one runner (annotator.jobs.runner: claim the row, heartbeat, progress and cancel, end it), one
liveness check (annotator.jobs.liveness: a job whose process is gone is closed as failed the
next time anyone asks, so it never blocks the next one, and a reload finds every job again by
its id). Processing a video, adaptation and activation run in a thread of the app server
(annotator.jobs.background); fine-tuning runs in a process of its own
(annotator.jobs.finetune_launch starts it, annotator.jobs.finetune_process is that process).
"""

from annotator.jobs.background import (
    ACTIVATE,
    ADAPT,
    PROCESS,
    adaptation_state,
    current_activation,
    processed_video_id,
    progress_message,
    start_activation,
    start_adaptation,
    start_processing,
)
from annotator.jobs.kinds import JobKind, JobStatus
from annotator.jobs.liveness import job_status

__all__ = [
    "ACTIVATE",
    "ADAPT",
    "PROCESS",
    "JobKind",
    "JobStatus",
    "adaptation_state",
    "current_activation",
    "job_status",
    "processed_video_id",
    "progress_message",
    "start_activation",
    "start_adaptation",
    "start_processing",
]
