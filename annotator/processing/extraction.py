"""A video's path through the product, first half: extract → cache.

1. extract: one decoding pass, from the container the processing opened once
   (annotator.processing.video.VideoSource), finds every face of each frame, links the faces
   into subjects (annotator.processing.landmarks.tracking) and computes each face's aligned
   image as the frame arrives, so a frame is decoded once and dropped. The thread that finds
   faces does only that: decoding, gray pictures, face images, writing them and the
   expression network run on threads of their own (dlib's face search and the 68-point fit
   release the GIL, so they run beside them). Landmark motion needs both
   neighbours, so it is computed per subject from its landmark table at the end (it is tiny).
   The descriptors a small learner uses (model.descriptors) come from the features.
2. cache: the landmarks of every subject, and each subject's features and descriptors, are kept
   under the video's content hash and landmark backend (`AU_ANNOTATOR_CACHE` moves the folder;
   subject n's files in `subject-n/`), so re-opening, renaming, predicting again or training
   never recomputes them; a changed file gets a new hash.
3. store: the active predictor (a model version, else the geometry baseline) turns a subject's
   features into AU probabilities (`predict_video`), stored with the video as a prediction run
   of that subject (`store_prediction`); annotator.processing.corpus runs the first in workers, the
   second in one process.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import zipfile
from array import array
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import platformdirs
from tqdm import tqdm

from annotator.processing.landmarks import (
    FaceResult,
    LandmarkBackend,
    LandmarkTable,
    SubjectLandmarks,
)
from annotator.processing.landmarks.identity import FaceIdentity
from annotator.processing.landmarks.registry import registered_backend
from annotator.processing.landmarks.tracking import SubjectTracker
from annotator.processing.system import available_cores, forget_after_fork, give_way
from annotator.processing.video import VideoSource, iter_frames, open_video, work_scale
from model.affwild2_files import left_and_right, subject_for_person
from model.arrays import FrameImages, RowWriter
from model.au_sets import NUM_LANDMARKS
from model.descriptors import DESCRIPTOR_VERSION, VideoDescriptors, descriptors_from_features
from model.errors import InputError
from model.expression import (
    EXPRESSION_VERSION,
    EXPRESSIONS,
    classify,
    features_expression,
    sampling_stride,
    spread,
)
from model.features import (
    FeatureConfig,
    FrameCountError,
    VideoFeatures,
    face_image,
    features_from_frames,
    landmark_motion,
)
from model.files import atomic_path, content_hash, remove_stale_partials, scratch_file

log = logging.getLogger(__name__)

# Called as progress(frames_done, frames_expected) while a video is analysed.
ProgressCallback = Callable[[int, int], None]

_backends: dict[tuple[str, str], LandmarkBackend] = {}

# Frames are analysed at most this many pixels a side: landmark backends detect on smaller
# pictures anyway, and a 4K frame queued whole costs 25 MB. Landmarks are stored in the video's
# own pixels.
ANALYSIS_SIDE = 1280


# --- extract -----------------------------------------------------------------------------


def analyse_video(
    video: VideoSource, backend: LandmarkBackend, config: FeatureConfig | None = None,
    progress: bool = False, on_progress: ProgressCallback | None = None,
    scratch: Path | None = None, device: str = "cpu",
) -> tuple[SubjectLandmarks, list[VideoFeatures]]:
    """Every subject's landmarks (in the video's own pixels), and each subject's features
    (subject n at n − 1), of every decoded frame of `video` (no cache). Frames larger than
    ANALYSIS_SIDE are scaled down to it before they are queued; face images are written to
    files in `scratch` (a folder that must outlive the features) as they are made."""
    config = config or FeatureConfig()
    path, info = video.path, video.info
    # OpenCV's calls here are small (a frame's gray picture, a face crop) and already run on
    # threads of their own; its own thread pool, which spins between calls, only burnt CPU:
    # 5.8-7.1 ms of CPU a frame with one thread against 6.8-8.6 with two, on two cores.
    cv2.setNumThreads(1)
    backend.reset()
    tracker = SubjectTracker(info.fps, face_identity())
    times, scales = array("d"), array("d")
    faces = _FaceImages(config, scratch, sampling_stride(info.fps), device)
    frames_in_order: deque[np.ndarray] = deque()
    expected = info.frame_count_claimed or None

    def frames():
        for frame in video.prefetched(max_side=ANALYSIS_SIDE):
            times.append(frame.time)
            scales.append(frame.scale)
            frames_in_order.append(frame.rgb)  # held only until its landmarks come back
            yield frame.rgb

    bar = tqdm(total=expected, unit="frame", desc=path.name, disable=not progress)
    try:
        with bar:
            for index, found in enumerate(backend.track(frames())):
                rgb = frames_in_order.popleft()
                for track, face in zip(tracker.add(rgb, found), found, strict=True):
                    faces.add(track, index, rgb, face)
                bar.update(1)
                if on_progress is not None:
                    on_progress(index + 1, max(expected or 0, index + 1))
            bar.total = len(times)  # containers misreport counts: end the bar at what decoded
            bar.refresh()
        subjects, tracks = tracker.subjects(np.frombuffer(times, np.float64))
        features = [faces.features(track, subjects.face[row])
                    for row, track in enumerate(tracks)]
    finally:
        faces.close()
    to_video = 1.0 / np.frombuffer(scales, np.float64).astype(np.float32)  # analysed → video
    subjects.box *= to_video[None, :, None]
    subjects.landmarks *= to_video[None, :, None, None]
    return subjects, features


class _FaceImages:
    """Aligned face images computed on worker threads (OpenCV releases the GIL), `_CHUNK`
    faces a task, written to one file per track in `scratch` by a writer thread as they
    complete, in order, so the thread finding faces never waits for them. At most
    `_IN_FLIGHT` faces wait for a worker and nothing else is held per face, so memory stays
    flat however long the video. Every `stride`-th face of a track is also classified by the
    expression network, in batches on a thread of its own, while decoding and landmarks go on.

    Tasks of four faces, on one worker on two cores: the threads woke a quarter as often and
    fought less over the interpreter lock; the analysis of the demo clip on two cores ran 5 %
    faster (median of 8 rounds in turn with one face a task on two workers)."""

    _IN_FLIGHT = 64
    _CHUNK = 4

    def __init__(self, config: FeatureConfig, scratch: Path, stride: int = 1,
                 device: str = "cpu"):
        self.config, self.scratch, self.stride = config, Path(scratch), stride
        self.device = device
        self.pending: deque[Future] = deque()  # each task's write, in order
        self.batch: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # faces of the next task
        self.images: dict[int, RowWriter] = {}
        self.aligned: dict[int, RowWriter] = {}
        self.frames: dict[int, array] = {}
        self.expressions: dict[int, _ExpressionSamples] = {}

    def add(self, track: int, frame: int, rgb: np.ndarray, result: FaceResult) -> None:
        self.batch.append((track, frame, rgb, result.landmarks))
        if len(self.batch) == self._CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        made = _pool().submit(self._make, batch)
        # the writer needs no frame: each is freed once its face image is made
        faces = [(track, frame) for track, frame, _, _ in batch]
        self.pending.append(_writer_pool().submit(self._write, faces, made))
        while len(self.pending) > self._IN_FLIGHT // self._CHUNK:
            self.pending[0].result()  # still in `pending` while waited on: close() waits too
            self.pending.popleft()

    def _make(self, batch: list) -> list[tuple[np.ndarray, np.ndarray]]:
        return [face_image(rgb, landmarks, self.config) for _, _, rgb, landmarks in batch]

    def _write(self, faces: list[tuple[int, int]], made: Future) -> None:
        """On the writer thread, one task at a time in the order they were given: each face's
        (track, frame) and, in `made`, its image and aligned landmarks."""
        for (track, frame), (image, aligned) in zip(faces, made.result(), strict=True):
            self._writers(track)
            self.images[track].append(image)
            self.aligned[track].append(aligned)
            self.expressions[track].add(frame, image[0],
                                        len(self.frames[track]) % self.stride == 0)
            self.frames[track].append(frame)

    def _drain(self) -> None:
        self._flush()
        while self.pending:
            self.pending[0].result()
            self.pending.popleft()

    def _writers(self, track: int | None) -> None:
        if track not in self.images:
            size, name = self.config.crop_size, "none" if track is None else track
            self.images[track] = RowWriter(self.scratch / f"images-{name}.npy",
                                           (2, size, size), np.uint8)
            self.aligned[track] = RowWriter(self.scratch / f"aligned-{name}.npy",
                                            (NUM_LANDMARKS, 2), np.float32)
            self.frames[track] = array("q")
            self.expressions[track] = _ExpressionSamples(self.device)

    def features(self, track: int | None, face: np.ndarray) -> VideoFeatures:
        """One track's features over the whole video (`face`: (T,) its frames), its images
        read from the scratch file; blank images and NaN landmarks elsewhere. Track None: a
        subject never seen."""
        self._drain()
        self._writers(track)
        frames = np.frombuffer(self.frames.pop(track), np.int64)
        aligned = np.full((len(face), NUM_LANDMARKS, 2), np.nan, np.float32)
        for start, rows in self.aligned.pop(track).close().chunks():
            aligned[frames[start:start + len(rows)]] = rows
        images = FrameImages(self.images.pop(track).close(), frames, len(face))
        motion, has_motion = landmark_motion(aligned, face, self.config)
        expression = self.expressions.pop(track).probabilities(face)
        return VideoFeatures(images, motion, face.copy(), has_motion, aligned, expression)

    def close(self) -> None:
        """Cancel the writes not started and wait for the one under way; drop the files of
        tracks not kept."""
        self.batch.clear()
        for future in self.pending:
            future.cancel()
        for future in self.pending:  # the write under way ends before its file is dropped
            if not future.cancelled():
                future.exception()
        self.pending.clear()
        for writer in (*self.images.values(), *self.aligned.values()):
            writer.discard()
        self.images.clear()
        self.aligned.clear()
        self.expressions.clear()


class _ExpressionSamples:
    """One track's sampled gray crops, classified `_BATCH` at a time on the expression thread;
    the track's last face is always classified, so interpolation reaches its end. Batches are
    small so that the last one, which the end of the analysis waits for, is quick (OpenCV's
    network gives the same probabilities whatever the batch, and took 0.61 ms a crop in
    batches of 16 against 0.71 in batches of 64)."""

    _BATCH = 16

    def __init__(self, device: str):
        self.device = device
        self.frames: list[int] = []
        self.batch: list[np.ndarray] = []
        self.done: list[Future] = []
        self.last: tuple[int, np.ndarray] | None = None

    def add(self, frame: int, gray: np.ndarray, sampled: bool) -> None:
        self.last = (frame, gray) if not sampled else None
        if sampled:
            self.frames.append(frame)
            self.batch.append(gray)
            if len(self.batch) == self._BATCH:
                self._submit()

    def _submit(self) -> None:
        if self.batch:
            self.done.append(_expression_pool().submit(classify, np.stack(self.batch),
                                                       self.device))
            self.batch = []

    def probabilities(self, face: np.ndarray) -> np.ndarray:
        """(T, 7) probabilities over the track's face frames (NaN elsewhere)."""
        if self.last is not None:
            self.frames.append(self.last[0])
            self.batch.append(self.last[1])
        self._submit()
        if not self.done:
            return np.full((len(face), len(EXPRESSIONS)), np.nan, np.float32)
        classified = np.concatenate([future.result() for future in self.done])
        return spread(np.asarray(self.frames), classified, face)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Threads making face images: the cores the face search leaves (one on two cores)."""
    workers = max(1, min(8, available_cores() - 1))
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="face",
                              initializer=give_way)


@functools.cache
def _writer_pool() -> ThreadPoolExecutor:
    """One thread writing face images to their files, in the order the faces were found."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-writer",
                              initializer=give_way)


@functools.cache
def _expression_pool() -> ThreadPoolExecutor:
    """One thread for the expression network: its batches overlap decoding and landmarks."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="expression",
                              initializer=give_way)


for _cached_pool in (_pool, _writer_pool, _expression_pool):
    forget_after_fork(_cached_pool)


@functools.cache
def face_identity() -> FaceIdentity:
    """One loaded face descriptor model per process."""
    return FaceIdentity()


def make_backend(name: str = "dlib", device: str = "cpu") -> LandmarkBackend:
    """A ready landmark backend of the registry (annotator.processing.landmarks.registry);
    `fan` loads face-alignment's networks on `device`."""
    return registered_backend(name).factory(device)


def backend_for(name: str, device: str) -> LandmarkBackend:
    """One loaded backend per (name, device) and process: loading FAN takes seconds."""
    key = (name, device)
    if key not in _backends:
        _backends[key] = make_backend(name, device)
    return _backends[key]


# --- cache -------------------------------------------------------------------------------


def cache_root() -> Path:
    override = os.environ.get("AU_ANNOTATOR_CACHE")
    return Path(override) if override else Path(platformdirs.user_cache_dir("au-annotator"))


def video_cache_dir(path: str | Path, backend: str) -> Path:
    """Folder for everything derived from one video (by content) with one landmark backend."""
    return cache_root() / content_hash(path)[:32] / backend


def landmark_cache_path(path: str | Path, backend: str) -> Path:
    """Where the landmarks of every subject of the video are cached."""
    return video_cache_dir(path, backend) / "subjects.npz"


def features_path(path: str | Path, backend: str, config: FeatureConfig,
                  subject: int = 1) -> Path:
    """Where the features of one subject of this video (by content), backend and config are
    cached."""
    return video_cache_dir(path, backend) / f"subject-{subject}" / f"features-{config.key()}.npz"


def expression_path(path: str | Path, backend: str, config: FeatureConfig,
                    subject: int = 1) -> Path:
    """Where one subject's (T, 7) expression probabilities are cached (a .npy file)."""
    name = f"expression-{config.key()}-v{EXPRESSION_VERSION}.npy"
    return video_cache_dir(path, backend) / f"subject-{subject}" / name


def descriptors_path(path: str | Path, backend: str, config: FeatureConfig,
                     subject: int = 1) -> Path:
    name = f"descriptors-{config.key()}-v{DESCRIPTOR_VERSION}.npz"
    return video_cache_dir(path, backend) / f"subject-{subject}" / name


@dataclass
class VideoAnalysis:
    """What one video gives with one landmark backend and feature config: every subject's
    landmarks, and per subject its features and descriptors, read from the cache (or computed
    and cached) when first asked for. Face images and appearance descriptors stay on disk and
    are read when indexed."""

    path: Path
    backend: str
    config: FeatureConfig
    subjects: SubjectLandmarks

    def features(self, subject: int = 1) -> VideoFeatures:
        if not 1 <= subject <= self.subjects.count:
            raise InputError(self.path, f"no subject {subject}: this video has subjects "
                                        f"1..{self.subjects.count}")
        file = features_path(self.path, self.backend, self.config, subject)
        found = _cached(VideoFeatures, file)
        if found is None:
            with scratch_file(file, ".npy") as spill:
                _features_from_landmarks(self.path, self.subjects.subject(subject),
                                         self.config, spill).save(file)
            found = VideoFeatures.load(file)
        found.expression = self.expression(subject, found)
        return found

    def expression(self, subject: int, features: VideoFeatures) -> np.ndarray:
        """(T, 7) expression probabilities of a subject: cached, else classified from its
        features' face images (a cache made before expressions were) and cached."""
        file = expression_path(self.path, self.backend, self.config, subject)
        found = cached_expression(file)
        if found is None:
            stride = sampling_stride(frame_rate(self.subjects.timestamps))
            found = features_expression(features, stride)
            _save_expression(file, found)
        return found

    def descriptors(self, subject: int = 1) -> VideoDescriptors:
        file = descriptors_path(self.path, self.backend, self.config, subject)
        found = _cached(VideoDescriptors, file)
        if found is None:
            _save_descriptors(file, self.features(subject))
            found = VideoDescriptors.load(file)
        return found


def frame_rate(timestamps: np.ndarray) -> float:
    """Frames per second from decoded frames' times (the median step; 0 when unknown)."""
    steps = np.diff(np.asarray(timestamps, np.float64))
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if len(steps) else 0.0


def cached_expression(file: Path) -> np.ndarray | None:
    """(T, 7) expression probabilities cached in `file`; None when missing or unreadable."""
    if not file.is_file():
        return None
    try:
        found = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        log.warning("%s: unreadable cache file (%s); recomputing", file, error)
        return None
    return found if found.ndim == 2 and found.shape[1] == len(EXPRESSIONS) else None


def _save_expression(file: Path, expression: np.ndarray) -> None:
    with atomic_path(file) as temporary, open(temporary, "wb") as out:
        np.save(out, np.asarray(expression, np.float32))


def _save_descriptors(file: Path, features: VideoFeatures) -> None:
    with scratch_file(file, ".npy") as spill:
        descriptors_from_features(features, spill).save(file)


def _cache_subject(features: VideoFeatures, path: Path, backend: str, config: FeatureConfig,
                   subject: int) -> None:
    """Save one subject's features, and the descriptors made from them while their images are
    still in the uncompressed scratch file (not read back from the compressed cache)."""
    features.save(features_path(path, backend, config, subject))
    _save_expression(expression_path(path, backend, config, subject), features.expression)
    _save_descriptors(descriptors_path(path, backend, config, subject), features)


def analyse_and_cache(
    video: str | Path | VideoSource, backend: str = "dlib", device: str = "cpu",
    config: FeatureConfig | None = None, progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> VideoAnalysis:
    """Every subject's landmarks, features and descriptors, computing only what is not cached.
    Given a path, the file is opened here (a bad file fails early, with a clear message);
    given an open VideoSource, its container is the one decoded."""
    if not isinstance(video, VideoSource):
        with VideoSource(video) as source:
            return analyse_and_cache(source, backend, device, config, progress, on_progress)
    path = video.path
    config = config or FeatureConfig()
    subjects = _cached_subjects(path, backend)
    if subjects is not None:
        return VideoAnalysis(path, backend, config, subjects)
    cache = video_cache_dir(path, backend)
    cache.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(cache)  # what a killed run left
    scratch = Path(tempfile.mkdtemp(prefix=".scratch-", suffix=".partial", dir=cache))
    try:
        subjects, features = analyse_video(
            video, backend_for(backend, device), config, progress, on_progress, scratch, device,
        )
        # Each subject's features are cached, then dropped: from here on they are read from
        # the cache, a piece at a time.
        for number in range(1, len(features) + 1):
            _cache_subject(features.pop(0), path, backend, config, number)
        # last: its presence means the others are there too
        subjects.save(landmark_cache_path(path, backend))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return VideoAnalysis(path, backend, config, subjects)


def features_for_video(
    path: str | Path, backend: str = "dlib", device: str = "cpu",
    config: FeatureConfig | None = None, progress: bool = False, subject: int = 1,
) -> VideoFeatures:
    """The network's features of one subject (default: the most seen) in every decoded frame,
    cached per video, backend, config and subject (read without the landmarks when cached)."""
    if Path(path).is_file():
        file = features_path(path, backend, config or FeatureConfig(), subject)
        cached = _cached(VideoFeatures, file)
        expression = cached_expression(expression_path(path, backend, config or FeatureConfig(),
                                                        subject))
        if cached is not None and expression is not None:
            cached.expression = expression
            return cached
    return analyse_and_cache(path, backend, device, config, progress).features(subject)


def descriptors_for_video(path: str | Path, backend: str = "dlib", device: str = "cpu",
                          config: FeatureConfig | None = None,
                          subject: int = 1) -> VideoDescriptors:
    """The learner's descriptors of one subject in every decoded frame, from the cache when
    present (reading them costs a fraction of a second even for a long video; the features
    are not loaded)."""
    cached = cached_descriptors(path, backend, config, subject)
    if cached is not None:
        return cached
    return analyse_and_cache(path, backend, device, config).descriptors(subject)


def cached_descriptors(path: str | Path, backend: str = "dlib",
                       config: FeatureConfig | None = None,
                       subject: int = 1) -> VideoDescriptors | None:
    """The descriptors when the cache holds them (never computed here); None otherwise."""
    if not Path(path).is_file():
        return None
    file = descriptors_path(path, backend, config or FeatureConfig(), subject)
    return _cached(VideoDescriptors, file)


def _cached_subjects(path: str | Path, backend: str) -> SubjectLandmarks | None:
    """The cached subjects; for a video cached before subjects were tracked, the one face it
    followed then, as subject 1 (what the database's upgrade made of its labels)."""
    found = _cached(SubjectLandmarks, landmark_cache_path(path, backend))
    if found is None:
        followed = _cached(LandmarkTable, video_cache_dir(path, backend) / "landmarks.npz")
        if followed is not None:
            found = SubjectLandmarks.of_one(followed)
    return found


def _cached(kind, file: Path):
    if not file.is_file():
        return None
    try:
        return kind.load(file)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        # A cache file that is truncated, corrupt or from an older run is rebuilt, not fatal.
        log.warning("%s: unreadable cache file (%s); recomputing", file, error)
        return None


def _features_from_landmarks(path: Path, table: LandmarkTable, config: FeatureConfig,
                             spill: Path) -> VideoFeatures:
    """Features from cached landmarks, on frames scaled as analyse_video scaled them."""
    info = open_video(path)
    scale = work_scale(info.width, info.height, ANALYSIS_SIDE)
    frames = (frame.rgb for frame in iter_frames(path, ANALYSIS_SIDE))
    try:
        return features_from_frames(frames, table.landmarks * np.float32(scale), table.face,
                                    config, spill)
    except FrameCountError as error:
        raise InputError(path, f"frames and cached landmarks disagree: {error}") from None


def subjects_for_video(
    path: str | Path, backend: str = "dlib", device: str = "cpu", progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> SubjectLandmarks:
    """Every subject's landmarks in every decoded frame of a video, from the cache when
    present."""
    cached = _cached_subjects(path, backend)
    if cached is not None:
        open_video(path)
        return cached
    return analyse_and_cache(path, backend, device, None, progress, on_progress).subjects


def person_features(path: str | Path, person: str | None, backend: str = "dlib",
                    device: str = "cpu", config: FeatureConfig | None = None) -> VideoFeatures:
    """The features of the person a label file names (model.formats.video_name_for_label:
    None for subject 1, "left" / "right" of the two most seen subjects, "subject<N>")."""
    analysis = analyse_and_cache(path, backend, device, config)
    subjects = analysis.subjects
    people = [(n, subjects.frames_seen(n), subjects.centre_x(n))
              for n in range(1, subjects.count + 1)]
    number = subject_for_person(person, left_and_right(people))
    if number is None or number > subjects.count:
        raise InputError(path, f"its labels are of the {person} person, but "
                               f"{subjects.count} subject(s) were found in it")
    return analysis.features(number)


def landmarks_for_video(
    path: str | Path, backend: str = "dlib", device: str = "cpu", progress: bool = False,
    on_progress: ProgressCallback | None = None, subject: int = 1,
) -> LandmarkTable:
    """One subject's landmarks (default: the most seen) in every decoded frame of a video."""
    return subjects_for_video(path, backend, device, progress, on_progress).subject(subject)
