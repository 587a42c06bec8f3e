"""The kinds of job that run in a thread of the app server: processing a video, learning from
a video's corrections (adaptation), activating a model version (or rolling back).

Each runs one at a time per key: a second request for the same video content (processing),
the same video (adaptation) or the active model (activation) gets the running job instead of
a new one. Adaptation is asked for again after every correction in "auto" mode: a request
while one runs is remembered and served when it ends, so the newest corrections are always
learnt and nothing piles up.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import db
from annotator.jobs.kinds import JobKind, JobStatus, Outcome, register
from annotator.jobs.liveness import latest_status
from annotator.jobs.runner import Progress, start_in_thread
from annotator.learning.adaptation import adapt_video
from annotator.learning.model_versions import activate_version, rollback
from annotator.processing.prediction import process_video
from annotator.services.context import Services
from annotator.services.uploads import discard_upload
from model.errors import InputError
from model.files import content_hash
from model.predictors import version_label

PROCESS, ADAPT, ACTIVATE = "process", "adapt", "activate"
PROCESSING = register(JobKind(PROCESS, "thread"))
ADAPTATION = register(JobKind(ADAPT, "thread"))
ACTIVATION = register(JobKind(ACTIVATE, "thread"))
ACTIVE_MODEL = "active model"  # the one key of activations: one at a time per database


def start_processing(services: Services, path: str | Path, backend: str = "dlib",
                     device: str = "cpu", upload_name: str | None = None) -> int:
    """Process `path` in the background (once per video content); returns the job id.

    `upload_name`: `path` is an upload the coder named so (annotator.services.uploads); messages
    name the file that way, and an upload found unreadable is deleted."""
    path = Path(path)
    shown = upload_name or path.name

    def work(progress: Progress) -> Outcome:
        known = processed_video_id(services, path)
        if known is not None:
            return Outcome(f"{shown}: already processed", video_id=known)
        started = time.monotonic()
        done = _process_file(path, upload_name, services, backend, device, lambda d, t: progress(
            d, t, progress_message(d, t, time.monotonic() - started)))
        share = 100.0 * done.frames_with_face / max(done.frames, 1)
        return Outcome(f"{shown}: {done.frames:,} frames, face in {share:.0f} %",
                       video_id=done.video_id)

    key = content_hash(path) if path.is_file() else str(path)
    return start_in_thread(services, PROCESSING, work, key, f"waiting to open {shown}")


def _process_file(path: Path, upload_name: str | None, services: Services, backend: str,
                  device: str, on_progress):
    """process_video; a refused upload is deleted, and the error names it as the coder did."""
    try:
        return process_video(path, services, backend, device, on_progress=on_progress)
    except InputError as error:
        if upload_name is None or error.path.resolve() != path.resolve():  # another file
            raise
        discard_upload(path)
        raise InputError(upload_name, error.problem) from None


def processed_video_id(services: Services, path: str | Path) -> int | None:
    """The id of this file's video when it already has a stored prediction run, else None."""
    with services.store.read() as session:
        return db.processed_video_id(session, content_hash(path))


def progress_message(done: int, expected: int, elapsed_s: float) -> str:
    """'frame 120 of 472 · 61 frames/s · 6 s left' (the count is the container's estimate)."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    left = (expected - done) / rate if rate > 0 else None
    text = f"frame {done:,} of {expected:,} · {rate:.0f} frames/s"
    return text + (f" · {_duration(left)} left" if left is not None else "")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    return f"{minutes // 60} h {minutes % 60} min"


def start_adaptation(services: Services, video_id: int) -> int:
    """Learn from the video's reviewed frames (every coder's) in the background."""

    def work(progress: Progress) -> Outcome:
        result = adapt_video(services, video_id)
        learnt = ", ".join(result.adapted_aus) or "nothing yet"
        reports = {str(done.subject): [asdict(r) for r in done.reports]
                   for done in result.subjects}  # per AU, what the page reports
        return Outcome(f"learnt: {learnt} ({result.seconds:.1f} s)", {"reports": reports},
                       video_id)

    return start_in_thread(services, ADAPTATION, work, str(video_id), "learning", again=True)


def adaptation_state(services: Services, video_id: int) -> JobStatus | None:
    return latest_status(services, ADAPTATION, str(video_id))


def start_activation(services: Services, version_id: int | None, roll_back: bool = False,
                     force: bool = False) -> int:
    """Activate `version_id` (None: the baseline), or roll back to the active version's parent
    when `roll_back`, in the background; `force` activates a version scoring below its parent.
    One activation at a time per database."""
    target = "the parent" if roll_back else version_label(version_id)

    def work(progress: Progress) -> Outcome:
        def on_progress(done: int, total: int) -> None:
            progress(done, total, f"Activating {target}: pre-fill re-run on {done} of {total} "
                                  "videos…")

        if roll_back:
            result = rollback(services, on_progress)
        else:
            result = activate_version(services, version_id, on_progress, force)
        return Outcome(f"now active: {version_label(result.version_id)}", asdict(result))

    return start_in_thread(services, ACTIVATION, work, ACTIVE_MODEL, f"Activating {target}…")


def current_activation(services: Services) -> JobStatus | None:
    """The database's running activation, or the last finished one (None: none yet)."""
    return latest_status(services, ACTIVATION, ACTIVE_MODEL)
