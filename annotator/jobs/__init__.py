"""Long work as rows of one jobs table, so the page never waits and a restart forgets nothing:
processing a video, learning from a video's corrections (adaptation), activating a model
version (or rolling back) run in a thread of the app server; fine-tuning runs in a process of
its own (annotator.jobs.finetune_launch) under the same rules.

Every job row records the process doing it (host, pid) and a heartbeat every db.HEARTBEAT_S; a
job whose heartbeat stopped, or whose process on this host is gone (the server was killed or
restarted), is closed as failed the next time anyone asks, so it never blocks the next one,
and a reload finds every job again by its id. Jobs with a key run one at a time per key: a
second request for the same video content (processing), the same video (adaptation) or the
active model (activation) gets the running job instead of a new one. Adaptation is asked for
again after every correction in "auto" mode: a request while one runs is remembered and served
when it ends, so the newest corrections are always learnt and nothing piles up.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import db
from annotator.learning.adaptation import AdaptationError, adapt_video
from annotator.learning.finetune_options import FinetuneError
from annotator.learning.model_versions import activate_version, rollback
from annotator.processing.prediction import process_video
from annotator.services.uploads import discard_upload
from model.errors import InputError
from model.files import content_hash
from model.predictors import version_label

log = logging.getLogger(__name__)

PROCESS, ADAPT, ACTIVATE = "process", "adapt", "activate"
PROGRESS_EVERY_S = 0.5  # database writes while working: often enough for a live bar
ACTIVE_MODEL = "active model"  # the one key of activations: one at a time per database
INTERRUPTED = "interrupted: the app stopped while this ran; start it again to resume"


@dataclass(frozen=True)
class JobStatus:
    job_id: int
    kind: str
    state: str  # queued, running, done, failed, cancelled
    progress: float  # 0..1
    message: str
    video_id: int | None
    result: dict | None  # what a finished job reports (activation: the videos re-run)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    @property
    def running(self) -> bool:
        return not self.finished


class Heartbeat:
    """Beats a job's heartbeat from a thread and notices a cancel request."""

    def __init__(self, sessions, job_id: int):
        self.sessions, self.job_id = sessions, job_id
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
                with self.sessions.begin() as session:
                    if db.beat(session, self.job_id).cancel_requested:
                        self.cancelled.set()
            except Exception:  # a busy database now and then must not end the job
                log.warning("job %d: heartbeat failed", self.job_id, exc_info=True)


class Reporter:
    """progress(done, total, message) → the job row, at most every PROGRESS_EVERY_S."""

    def __init__(self, sessions, job_id: int):
        self.sessions, self.job_id, self.last = sessions, job_id, 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and done < total:
            return
        self.last = now
        with self.sessions.begin() as session:
            db.report_progress(session, self.job_id, done / max(total, 1), message)


Work = Callable[[Reporter], tuple[str, dict | None, int | None]]  # → message, result, video


def run_in_background(database_url: str, kind: str, work: Work, key: str | None = None,
                      message: str = "waiting to start", again: bool = False) -> int:
    """Start `work` as a job in a thread of this process; returns its id. With `key`, the
    job of this kind and key already queued or running is returned instead (asked `again`,
    it runs its work once more when it ends)."""
    with db.open_database(database_url).begin() as session:
        running = db.active_job(session, kind, key) if key is not None else None
        if running is not None and db.process_gone(running):
            # its process was killed (the server restarted): close it, and start afresh
            db.fail_job(session, running.id, INTERRUPTED)
            running = None
        if running is not None:
            if again:
                db.update_job_details(session, running.id, again=True)
            return running.id
        job_id = db.create_job(session, kind, message=message, details={"key": key}).id
        db.set_job_process(session, job_id, socket.gethostname(), os.getpid())
    threading.Thread(target=_run, args=(database_url, job_id, work),
                     name=f"{kind}-job-{job_id}", daemon=True).start()
    return job_id


def _run(database_url: str, job_id: int, work: Work) -> None:
    sessions = db.open_database(database_url)
    with sessions.begin() as session:
        db.start_job(session, job_id, "starting", socket.gethostname(), os.getpid())
    heartbeat = Heartbeat(sessions, job_id)
    heartbeat.start()
    try:
        while True:
            message, result, video_id = work(Reporter(sessions, job_id))
            with sessions.begin() as session:
                job = db.get_job(session, job_id)
                if not (job.details or {}).get("again"):
                    db.update_job_details(session, job_id, result=result)
                    db.finish_job(session, job_id, message, video_id=video_id)
                    return
                db.update_job_details(session, job_id, again=False)
    except (InputError, FinetuneError, AdaptationError) as error:
        _fail(sessions, job_id, str(error))
    except Exception as error:  # the page must show the failure instead of waiting forever
        log.exception("job %d failed", job_id)
        _fail(sessions, job_id, f"failed ({type(error).__name__}: {error}); nothing was changed")
    finally:
        heartbeat.stop()


def _fail(sessions, job_id: int, message: str) -> None:
    with sessions.begin() as session:
        db.fail_job(session, job_id, message)


def job_status(database_url: str, job_id: int) -> JobStatus:
    """The job's state; a job whose process is gone is reported (and stored) as failed. Pages
    poll this: it reads without the write lock unless the job has to be failed."""
    with db.open_database(database_url, read_only=True).begin() as session:
        job = db.get_job(session, job_id)
        if job is None:
            raise InputError(f"job {job_id}", "no such job in this database")
        if not _maybe_dead(job):
            return _status(job)
    return _fail_if_dead(database_url, job_id)


def latest(database_url: str, kind: str, key: str | None = None) -> JobStatus | None:
    """The newest job of this kind (and key), liveness checked; None when there was none."""
    with db.open_database(database_url, read_only=True).begin() as session:
        job = db.latest_job(session, kind, key)
        if job is None:
            return None
        if not _maybe_dead(job):
            return _status(job)
        job_id = job.id
    return _fail_if_dead(database_url, job_id)


def _maybe_dead(job: db.Job) -> bool:
    return job.state in ("queued", "running") and db.process_gone(job)


def _fail_if_dead(database_url: str, job_id: int) -> JobStatus:
    """Fail the job when its process is gone, checked again under the write lock (it may have
    ended meanwhile)."""
    with db.open_database(database_url).begin() as session:
        job = db.get_job(session, job_id)
        if _maybe_dead(job):
            db.fail_job(session, job_id, INTERRUPTED)
        return _status(job)


def _status(job: db.Job) -> JobStatus:
    details = job.details or {}
    return JobStatus(job.id, job.kind, job.state, job.progress, job.message, job.video_id,
                     details.get("result"))


# --- the three kinds ---------------------------------------------------------------------


def start_processing(database_url: str, path: str | Path, backend: str = "dlib",
                     device: str = "cpu", upload_name: str | None = None) -> int:
    """Process `path` in the background (once per video content); returns the job id.

    `upload_name`: `path` is an upload the coder named so (annotator.services.uploads); messages
    name the file that way, and an upload found unreadable is deleted."""
    path = Path(path)
    shown = upload_name or path.name

    def work(report: Reporter):
        known = processed_video_id(database_url, path)
        if known is not None:
            return f"{shown}: already processed", None, known
        started = time.monotonic()
        done = _process_file(path, upload_name, database_url, backend, device, lambda d, t: report(
            d, t, progress_message(d, t, time.monotonic() - started)))
        share = 100.0 * done.frames_with_face / max(done.frames, 1)
        return f"{shown}: {done.frames:,} frames, face in {share:.0f} %", None, done.video_id

    key = content_hash(path) if path.is_file() else str(path)
    return run_in_background(database_url, PROCESS, work, key, f"waiting to open {shown}")


def _process_file(path: Path, upload_name: str | None, database_url: str, backend: str,
                  device: str, on_progress):
    """process_video; a refused upload is deleted, and the error names it as the coder did."""
    try:
        return process_video(path, database_url, backend, device, on_progress=on_progress)
    except InputError as error:
        if upload_name is None or error.path.resolve() != path.resolve():  # another file
            raise
        discard_upload(path)
        raise InputError(upload_name, error.problem) from None


def processed_video_id(database_url: str, path: str | Path) -> int | None:
    """The id of this file's video when it already has a stored prediction run, else None."""
    with db.open_database(database_url, read_only=True).begin() as session:
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


def start_adaptation(database_url: str, video_id: int) -> int:
    """Learn from the video's reviewed frames (every coder's) in the background."""

    def work(report: Reporter):
        result = adapt_video(database_url, video_id)
        learnt = ", ".join(result.adapted_aus) or "nothing yet"
        reports = {str(done.subject): [asdict(r) for r in done.reports]
                   for done in result.subjects}  # per AU, what the page reports
        return f"learnt: {learnt} ({result.seconds:.1f} s)", {"reports": reports}, video_id

    return run_in_background(database_url, ADAPT, work, str(video_id), "learning", again=True)


def adaptation_state(database_url: str, video_id: int) -> JobStatus | None:
    return latest(database_url, ADAPT, str(video_id))


def start_activation(database_url: str, version_id: int | None, roll_back: bool = False,
                     force: bool = False) -> int:
    """Activate `version_id` (None: the baseline), or roll back to the active version's parent
    when `roll_back`, in the background; `force` activates a version scoring below its parent.
    One activation at a time per database."""
    target = "the parent" if roll_back else version_label(version_id)

    def work(report: Reporter):
        def progress(done: int, total: int) -> None:
            report(done, total, f"Activating {target}: pre-fill re-run on {done} of {total} "
                                "videos…")

        if roll_back:
            result = rollback(database_url, progress)
        else:
            result = activate_version(database_url, version_id, progress, force)
        return f"now active: {version_label(result.version_id)}", asdict(result), None

    return run_in_background(database_url, ACTIVATE, work, ACTIVE_MODEL,
                             f"Activating {target}…")


def current_activation(database_url: str) -> JobStatus | None:
    """The database's running activation, or the last finished one (None: none yet)."""
    return latest(database_url, ACTIVATE, ACTIVE_MODEL)
