"""Work the app server runs in the background so the page never waits: processing a video,
learning from a video's corrections (adaptation), and activating a model version (or rolling
back).

Processing is a row of the database's jobs table: the app starts a job and polls `job_status` a
few times a second. The row outlives the browser tab, so a reload (which starts a new Streamlit
session) finds the job again by its id in the page URL. One video is processed at a time per
server process: the landmark backends keep tracking state and the CPU is better spent on one
video. A video already processed (same content, a stored run) opens at once.

Activation re-runs the pre-fill of every video with unreviewed frames, which takes from a few
seconds (the demo) to minutes (many long videos), so it runs in a thread of the server process
and the page polls it. The thread outlives the browser tab: a reload finds it again by the
database URL. One activation at a time per database and server process. (Fine-tuning runs in a
process of its own: annotator.finetune.)

Adaptation takes a second or two; in "auto" mode the page asks for it after every correction.
One runs at a time per video: a request while one runs is remembered and served once the
running one ends, so the newest corrections are always learnt and nothing piles up.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import db
from annotator.adaptation import AdaptationError, AdaptationResult, adapt_video
from annotator.finetune import ActivationResult, FinetuneError, activate_version, rollback
from annotator.prefill import process_video
from model.checkpoint import version_label
from model.formats import InputError, content_hash

log = logging.getLogger(__name__)

JOB_KIND = "process"
PROGRESS_EVERY_S = 0.5  # database writes while processing: often enough for a live bar
STALE_AFTER = timedelta(minutes=2)  # a running job silent this long lost its server process

_one_at_a_time = threading.Lock()
_threads: dict[int, threading.Thread] = {}


@dataclass(frozen=True)
class JobStatus:
    job_id: int
    state: str  # queued, running, done, failed
    progress: float  # 0..1
    message: str
    video_id: int | None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def start_processing(database_url: str, path: str | Path, backend: str = "dlib",
                     device: str = "cpu") -> int:
    """Start processing `path` in the background; returns the job id to poll."""
    path = Path(path)
    with db.open_database(database_url).begin() as session:
        job_id = db.create_job(session, JOB_KIND, message=f"waiting to open {path.name}").id
    worker = threading.Thread(
        target=_process, args=(database_url, job_id, path, backend, device),
        name=f"process-job-{job_id}", daemon=True,
    )
    _threads[job_id] = worker
    worker.start()
    return job_id


def job_status(database_url: str, job_id: int) -> JobStatus:
    """The job's state; a job whose server process died is reported (and stored) as failed."""
    with db.open_database(database_url).begin() as session:
        job = db.get_job(session, job_id)
        if job is None:
            raise InputError(f"job {job_id}", "no such processing job in this database")
        alive = job_id in _threads and _threads[job_id].is_alive()
        if job.state in ("queued", "running") and not alive and _stale(job):
            db.fail_job(session, job_id, "interrupted: the app stopped while processing this "
                                         "video; open it again to resume")
        return JobStatus(job.id, job.state, job.progress, job.message, job.video_id)


def processed_video_id(database_url: str, path: str | Path) -> int | None:
    """The id of this file's video when it already has a stored prediction run, else None."""
    with db.open_database(database_url).begin() as session:
        return db.processed_video_id(session, content_hash(path))


def progress_message(done: int, expected: int, elapsed_s: float) -> str:
    """'frame 120 of 472 · 61 frames/s · 6 s left' (the count is the container's estimate)."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    left = (expected - done) / rate if rate > 0 else None
    text = f"frame {done:,} of {expected:,} · {rate:.0f} frames/s"
    return text + (f" · {_duration(left)} left" if left is not None else "")


def _process(database_url: str, job_id: int, path: Path, backend: str, device: str) -> None:
    sessions = db.open_database(database_url)
    try:
        known = processed_video_id(database_url, path)
        if known is not None:
            _finish(sessions, job_id, known, f"{path.name}: already processed")
            return
        with _one_at_a_time:
            with sessions.begin() as session:
                db.start_job(session, job_id, f"opening {path.name}")
            done = process_video(path, database_url, backend, device,
                                 on_progress=_reporter(sessions, job_id))
        share = 100.0 * done.frames_with_face / max(done.frames, 1)
        _finish(sessions, job_id, done.video_id,
                f"{path.name}: {done.frames:,} frames, face in {share:.0f} %")
    except InputError as error:
        with sessions.begin() as session:
            db.fail_job(session, job_id, str(error))
    except Exception as error:  # the page must show the failure instead of waiting forever
        log.exception("processing %s failed", path)
        with sessions.begin() as session:
            db.fail_job(session, job_id, f"{path.name}: processing failed ({error})")
    finally:
        _threads.pop(job_id, None)


def _reporter(sessions, job_id: int):
    started = time.monotonic()
    last = 0.0

    def report(done: int, expected: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY_S and done < expected:
            return
        last = now
        with sessions.begin() as session:
            db.report_progress(session, job_id, done / max(expected, 1),
                               progress_message(done, expected, now - started))

    return report


def _finish(sessions, job_id: int, video_id: int, message: str) -> None:
    with sessions.begin() as session:
        db.finish_job(session, job_id, message, video_id=video_id)


def _stale(job: db.Job) -> bool:
    return datetime.now(UTC) - (job.updated_at or job.created_at) > STALE_AFTER


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    return f"{minutes // 60} h {minutes % 60} min"


# --- activation --------------------------------------------------------------------------


@dataclass
class Activation:
    """One activation or rollback running (or finished) in a background thread."""

    target: str  # "version 3", "geometry baseline" or "the parent"
    done: int = 0  # videos whose pre-fill was re-run so far
    total: int = 0
    result: ActivationResult | None = None
    error: str | None = None
    finished: bool = False

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


_activation_lock = threading.Lock()
_activations: dict[str, Activation] = {}  # database URL → its latest activation


def current_activation(database_url: str) -> Activation | None:
    """The database's running activation, or the last finished one (None: none since start)."""
    with _activation_lock:
        return _activations.get(database_url)


def start_activation(database_url: str, version_id: int | None, roll_back: bool = False,
                     force: bool = False) -> Activation:
    """Activate `version_id` (None: the baseline), or roll back to the active version's parent
    when `roll_back`, in a background thread; the running one if one is already running.
    `force` activates a version scoring below its parent."""
    with _activation_lock:
        running = _activations.get(database_url)
        if running is not None and not running.finished:
            return running
        activation = Activation("the parent" if roll_back else version_label(version_id))
        _activations[database_url] = activation
    threading.Thread(target=_activate,
                     args=(database_url, version_id, roll_back, force, activation),
                     name="activate-model-version", daemon=True).start()
    return activation


def _activate(database_url: str, version_id: int | None, roll_back: bool, force: bool,
              activation: Activation) -> None:
    try:
        if roll_back:
            activation.result = rollback(database_url, activation.progress)
        else:
            activation.result = activate_version(database_url, version_id, activation.progress,
                                                 force)
    except FinetuneError as error:
        activation.error = str(error)
    except Exception as error:  # the page must show the failure instead of polling forever
        log.exception("activating %s failed", activation.target)
        activation.error = f"activating {activation.target} failed ({error}); nothing changed"
    finally:
        activation.finished = True


# --- adaptation --------------------------------------------------------------------------


@dataclass
class Adaptation:
    """The background adaptation of one video: running, asked for again, or the last result."""

    running: bool = False
    again: bool = False  # asked for while running: run once more when this one ends
    runs: int = 0  # finished adaptations since the server started
    result: AdaptationResult | None = None
    error: str | None = None


_adaptation_lock = threading.Lock()
_adaptations: dict[tuple[str, int], Adaptation] = {}


def adaptation_state(database_url: str, video_id: int) -> Adaptation | None:
    with _adaptation_lock:
        return _adaptations.get((database_url, video_id))


def start_adaptation(database_url: str, video_id: int) -> Adaptation:
    """Learn from the video's reviewed frames in a background thread (every coder's)."""
    key = (database_url, video_id)
    with _adaptation_lock:
        state = _adaptations.setdefault(key, Adaptation())
        if state.running:
            state.again = True
            return state
        state.running, state.again = True, False
    threading.Thread(target=_adapt, args=(key, state), name=f"adapt-video-{video_id}",
                     daemon=True).start()
    return state


def _adapt(key: tuple[str, int], state: Adaptation) -> None:
    while True:
        try:
            state.result, state.error = adapt_video(*key), None
        except (AdaptationError, InputError) as error:
            state.error = str(error)
        except Exception as error:  # the page must show the failure instead of polling forever
            log.exception("adapting video %d failed", key[1])
            state.error = f"learning from the corrections failed ({error}); the pre-fill is " \
                          "unchanged"
        with _adaptation_lock:
            state.runs += 1
            if not state.again:
                state.running = False
                return
            state.again = False
