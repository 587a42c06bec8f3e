"""Pre-labelling a corpus: many videos in one run, on every core of this machine or on a Ray
cluster; what `au-annotator process PATH...` does.

- Finding: files as given; folders searched recursively for video files (by extension,
  model.formats.VIDEO_EXTENSIONS).
- Skipping: a video whose content already has a prediction run from the same landmark backend
  is not processed again, so a run cut short (a crash, a kill) resumes where it stopped; a file
  whose content appears twice in the corpus is processed once.
- Work: workers decode, find landmarks and features (cached under `AU_ANNOTATOR_CACHE`, as for
  one video) and predict with the predictor this process loaded, which is shipped to them whole:
  no worker reads the database or a model file. They hand back the compact
  `VideoPrediction` (per-frame AU probabilities and the video's metadata).
- Storing: only this process writes the database, each video as its result arrives, so
  everything finished before an interruption stays stored.
- Failures: a video that cannot be processed is reported with its reason and the run goes on.

Workers are processes on this machine (`workers`), or tasks on a Ray cluster (`ray_address`:
an existing cluster's address, or "local" for an instance started in this process and
listening on loopback only). Ray is an optional extra: `pip install -e ".[cluster]"`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import db
from annotator.processing.prediction import (
    ProcessedVideo,
    VideoPrediction,
    active_predictor,
    predict_video,
    prediction_parameters,
    store_prediction,
    subject_summaries,
)
from annotator.processing.system import available_cores
from annotator.processing.video import VideoInfo, open_video, share_decoding
from annotator.services.context import Services
from model.errors import InputError
from model.files import VIDEO_EXTENSIONS, content_hash
from model.predictors import AUPredictor

log = logging.getLogger(__name__)

LOCAL_RAY = "local"


@dataclass(frozen=True)
class CorpusOptions:
    backend: str = "dlib"  # landmark backend
    device: str = "cpu"
    workers: int = field(default_factory=available_cores)  # processes here, CPUs of a local Ray
    ray_address: str | None = None  # an existing Ray cluster, or LOCAL_RAY
    model: Path | None = None  # a checkpoint instead of the active model version
    frame_progress: bool = False  # a per-frame bar (stderr) for a video processed in this process


@dataclass(frozen=True)
class VideoOutcome:
    """What became of one video of the corpus."""

    path: Path
    result: ProcessedVideo | None  # the run stored now, or (skipped) the one stored before
    skipped: bool = False
    problem: str = ""  # why it failed (result is None)


@dataclass(frozen=True)
class CorpusProgress:
    videos_done: int  # stored, skipped or failed
    videos: int
    frames_done: int  # decoded frames of the videos processed in this run
    frames_left: int  # of the videos still to process, as their containers claim them
    seconds: float

    @property
    def frames(self) -> int:
        """The run's frames as now known: decoded for the videos done, claimed for the rest,
        so the total settles on the decoded count as videos finish."""
        return self.frames_done + self.frames_left

    @property
    def frames_per_second(self) -> float:
        return self.frames_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        rate = self.frames_per_second
        return self.frames_left / rate if rate > 0 else None


@dataclass
class CorpusSummary:
    outcomes: list[VideoOutcome]
    frames: int  # decoded frames of the videos processed in this run, whatever their subjects
    seconds: float

    def stored(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.result is not None and not o.skipped]

    def skipped(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.skipped]

    def failed(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.result is None]


# Called with each video's outcome as it is known, and the run's progress then.
OutcomeCallback = Callable[[VideoOutcome, CorpusProgress], None]


def find_videos(paths: list[Path]) -> tuple[list[Path], list[VideoOutcome]]:
    """The video files named by `paths` (files as given, folders searched recursively), each
    once, and a failure for each path that is missing or a folder without videos."""
    videos: dict[Path, Path] = {}
    failures = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
            if not found:
                failures.append(VideoOutcome(path, None, problem=(
                    f"no video files ({' '.join(VIDEO_EXTENSIONS)}) in this folder")))
        elif path.exists():
            found = [path]
        else:
            failures.append(VideoOutcome(path, None, problem="no such file or folder"))
            found = []
        for video in found:
            videos.setdefault(video.resolve(), video)
    return list(videos.values()), failures


def already_processed(session: db.Session, path: Path, info: VideoInfo, backend: str,
                      version: str | None = None) -> ProcessedVideo | None:
    """The stored run when this file's content was processed with `backend` (and predictor
    `version`, when given) before, else None. The video's path is brought up to date if the
    file moved."""
    digest = content_hash(path)
    run = db.run_with_backend(session, digest, backend, version)
    if run is None:
        return None
    video = db.register_video(session, content_hash=digest, path=path.resolve(), fps=info.fps,
                              frame_count=run.frame_count, width=info.width, height=info.height)
    first = db.latest_prediction_run(session, video.id, 1) or run
    faces = int((~np.isnan(db.run_probabilities(first)).all(axis=1)).sum())
    version = db.run_parameters(run).details.get("version", "")
    subjects = subject_summaries(db.video_subjects(session, video.id), run.frame_count,
                                 db.prefilled_subjects(session, video.id))
    return ProcessedVideo(video.id, first.id, run.frame_count, faces, version, subjects)


def label_corpus(paths: list[Path], services: Services, options: CorpusOptions,
                 on_outcome: OutcomeCallback | None = None) -> CorpusSummary:
    """Process every video under `paths` not processed before and store its pre-fill."""
    videos, not_found = find_videos(paths)
    total = len(videos) + len(not_found)
    started = time.monotonic()
    outcomes: list[VideoOutcome] = []
    frames_done = 0
    predictor, version_id = active_predictor(services, options.model)
    # an explicit --model must have made the earlier run; else any run of the backend counts
    same_model = predictor.version if options.model is not None else None
    todo, twins, planned = _plan(videos, services, options.backend, same_model)
    frames_left = sum(todo.values())

    def report(outcome: VideoOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome, CorpusProgress(len(outcomes), total, frames_done, frames_left,
                                               time.monotonic() - started))

    for outcome in not_found + planned:
        report(outcome)
    parameters = prediction_parameters(predictor, options.backend)
    longest_first = sorted(todo, key=todo.__getitem__, reverse=True)  # no long video left last
    for path, prediction, problem in _predictions(longest_first, predictor, options):
        frames_left -= todo[path]
        if prediction is None:
            report(VideoOutcome(path, None, problem=problem))
            continue
        frames_done += prediction.frames  # decoded, however many subjects were pre-filled
        report(VideoOutcome(path, store_prediction(services, prediction, parameters,
                                                   version_id)))
    for twin, original in twins.items():
        first = next(o for o in outcomes if o.path == original)
        problem = first.problem and f"{first.problem} (same content as {original})"
        report(VideoOutcome(twin, first.result, first.result is not None, problem))
    return CorpusSummary(outcomes, frames_done, time.monotonic() - started)


def _plan(videos: list[Path], services: Services, backend: str, version: str | None):
    """(videos to process → frames their containers claim, files whose content another file of
    the corpus has → that file, outcomes known already: skipped and unreadable videos)."""
    todo: dict[Path, int] = {}
    twins: dict[Path, Path] = {}
    known: list[VideoOutcome] = []
    first_of: dict[str, Path] = {}
    for path in videos:
        try:
            info = open_video(path)
            digest = content_hash(path)
        except InputError as error:
            known.append(VideoOutcome(path, None, problem=error.problem))
            continue
        if digest in first_of:
            twins[path] = first_of[digest]
            continue
        first_of[digest] = path
        with services.store.write() as session:  # one short transaction each: coders keep writing
            before = already_processed(session, path, info, backend, version)
        if before is not None:
            known.append(VideoOutcome(path, before, skipped=True))
        else:
            todo[path] = info.frame_count_claimed or round(info.duration * info.fps)
    return todo, twins, known


# --- workers -----------------------------------------------------------------------------

# (video, its prediction or None, why it failed)
WorkDone = tuple[Path, VideoPrediction | None, str]


def predict_or_explain(path: Path, predictor: AUPredictor, backend: str, device: str,
                       progress: bool = False) -> WorkDone:
    """One worker's job: the video's prediction, or why there is none (never raises, so one
    bad video cannot end a corpus run)."""
    try:
        return path, predict_video(path, predictor, backend, device, progress), ""
    except InputError as error:
        return path, None, error.problem
    except Exception as error:  # reported with the video; the traceback goes to the log
        log.info("%s: processing failed", path, exc_info=True)
        return path, None, f"processing failed ({type(error).__name__}: {error})"


def _predictions(videos: list[Path], predictor: AUPredictor,
                 options: CorpusOptions) -> Iterator[WorkDone]:
    """Each video's prediction as it is ready, from this process, a pool or a Ray cluster."""
    if not videos:
        return
    if options.ray_address is not None:
        yield from _ray_predictions(videos, predictor, options)
    elif options.workers <= 1 or len(videos) == 1:
        for path in videos:
            yield predict_or_explain(path, predictor, options.backend, options.device,
                                     options.frame_progress)
    else:
        yield from _pool_predictions(videos, predictor, options)


def _pool_predictions(videos: list[Path], predictor: AUPredictor,
                      options: CorpusOptions) -> Iterator[WorkDone]:
    workers = min(options.workers, len(videos))
    waiting = videos[::-1]  # taken from the end: in order
    while waiting:  # a fresh pool after one broke
        yield from _until_the_pool_breaks(waiting, workers, predictor, options)


def _share_cores(threads: int) -> None:
    """A worker's start: its share of the cores, for torch (which reads OMP_NUM_THREADS when
    first imported, if the predictor is a network) and decoding (OpenCV runs on one thread in
    the analysis: annotator.processing.extraction.analyse_video)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    share_decoding(threads)


def _worker_start(backend: str) -> multiprocessing.context.BaseContext:
    """How worker processes start: never as a fork of this process (its threads and locks).
    Where it can, forked from a fork server that loaded dlib's 68-point model first, so the
    workers read one copy of it (65 MB, of which a fit reads about 4 MB scattered: two
    copies crowd each other out of the processor's cache); otherwise each a fresh
    interpreter."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    preload = ["annotator.processing.corpus"]  # what every worker runs: 0.6 s of imports
    if backend == "dlib":
        preload.append("annotator.processing.landmarks.dlib_loaded")
    context.set_forkserver_preload(preload)
    return context


def _until_the_pool_breaks(waiting: list[Path], workers: int, predictor: AUPredictor,
                           options: CorpusOptions) -> Iterator[WorkDone]:
    """Predictions of the `waiting` videos by a pool of worker processes, one video per worker
    at a time (so an interruption waits for no queued video), until all are done or a worker
    died (killed, out of memory...): the videos then in progress fail, the rest stay waiting."""
    pool = ProcessPoolExecutor(workers, _worker_start(options.backend),
                               initializer=_share_cores,
                               initargs=(max(1, available_cores() // workers),))
    running: dict[Future, Path] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                try:
                    future = pool.submit(predict_or_explain, waiting[-1], predictor,
                                         options.backend, options.device)
                except BrokenProcessPool:
                    break
                running[future] = waiting.pop()
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path = running.pop(future)
                if future.exception() is None:
                    yield future.result()
                else:
                    log.info("%s: worker failed", path, exc_info=future.exception())
                    yield path, None, ("a worker process died while processing it; run the "
                                       "command again to retry it")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray_predictions(videos: list[Path], predictor: AUPredictor,
                     options: CorpusOptions) -> Iterator[WorkDone]:
    ray = _start_ray(options)
    try:
        gpus = 1 if options.device.startswith("cuda") else 0  # one video per GPU at a time
        task = ray.remote(predict_or_explain).options(num_cpus=1, num_gpus=gpus)
        shared = ray.put(predictor)  # sent to each node once, not once per video
        pending = {task.remote(path, shared, options.backend, options.device): path
                   for path in videos}
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            path = pending.pop(ready)
            try:
                yield ray.get(ready)
            except ray.exceptions.RayError as error:  # the worker or its node was lost
                yield path, None, f"cluster task failed ({type(error).__name__}: {error})"
    finally:
        ray.shutdown()


def _start_ray(options: CorpusOptions):
    """Connect to the cluster at `options.ray_address`, or start a local instance that listens
    on loopback only and sends no usage reports. Workers get this process's
    AU_ANNOTATOR_CACHE, so a cache folder every machine mounts is shared."""
    local = options.ray_address == LOCAL_RAY
    if local:
        # read when Ray is imported: a single-machine instance binds every server to loopback
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray  # the optional `cluster` extra

    cache = os.environ.get("AU_ANNOTATOR_CACHE")
    runtime_env = {"env_vars": {"AU_ANNOTATOR_CACHE": cache}} if cache else None
    if local:
        ray.init(address=LOCAL_RAY, num_cpus=options.workers, include_dashboard=False,
                 runtime_env=runtime_env, logging_level=logging.WARNING)
    else:
        ray.init(address=options.ray_address, runtime_env=runtime_env,
                 logging_level=logging.WARNING)
    return ray
