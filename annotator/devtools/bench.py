"""Timing the whole pipeline against a reference, as `au-annotator bench` prints it.

End to end = decode → landmarks of every face → subjects → features → descriptors → AU
probabilities from the seed network, for every subject (random weights unless a checkpoint is
given: speed does not depend on weights); frames/s counts decoded frames. The
reference is, on CPU, dlib's detector + predictor on every frame in one process without
tracking; on CUDA, face-alignment's stock `get_landmarks_from_batch` path. Both see the same
frames in one run.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from annotator.processing.extraction import analyse_video
from annotator.processing.landmarks import LandmarkBackend, SubjectLandmarks
from annotator.processing.video import VideoInfo, VideoSource, iter_frames
from model.descriptors import descriptors_from_features
from model.network import AUNetwork, NetworkConfig, predict_probabilities


@dataclass
class BenchResult:
    frames: int
    seconds: float
    stage_seconds: dict[str, float]
    subjects: int = 1  # subjects (people) followed: each is landmarked, described, predicted

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def end_to_end(
    path: Path, info: VideoInfo, backend: LandmarkBackend, device: str, repeat: int,
    network: AUNetwork | None = None,
) -> BenchResult:
    network = network or AUNetwork(NetworkConfig()).to(device).eval()
    frames, analysis_s, descriptors_s, network_s = 0, 0.0, 0.0, 0.0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="au-annotator-bench-") as scratch:
            start = time.perf_counter()
            with VideoSource(path) as video:
                subjects, features = analyse_video(video, backend, scratch=Path(scratch),
                                                   device=device)
            analysed = time.perf_counter()
            for subject in features:
                descriptors_from_features(subject)
            described = time.perf_counter()
            for subject in features:
                predict_probabilities(network, subject.images, subject.motion, subject.face)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        end = time.perf_counter()
        frames += len(subjects)
        analysis_s += analysed - start
        descriptors_s += described - analysed
        network_s += end - described
    stages = {"decode+landmarks+features": analysis_s, "descriptors": descriptors_s,
              "network": network_s}
    return BenchResult(frames, analysis_s + descriptors_s + network_s, stages, subjects.count)


def dlib_reference(path: Path, repeat: int) -> BenchResult:
    """dlib detection + 68 points on every frame, no tracking, no threads."""
    from annotator.processing.landmarks.dlib_backend import DlibBackend, DlibPredictor

    # never search a window nor skip a frame without a face: always the full frame; the 68
    # points by dlib's own predictor
    backend = DlibBackend(detect_every=0, empty_every=1, model=DlibPredictor())
    frames, start = 0, time.perf_counter()
    for _ in range(repeat):
        backend.reset()
        for frame in iter_frames(path):
            backend.find_faces(frame.rgb)
            frames += 1
    seconds = time.perf_counter() - start
    return BenchResult(frames, seconds, {"dlib every frame": seconds})


def stock_fan_reference(
    path: Path, repeat: int, library, boxes: SubjectLandmarks | None = None,
    batch_size: int = 32,
) -> BenchResult:
    """face-alignment's own batch call: detector batched, landmarks one frame at a time.

    With `boxes`, both paths skip detection and use the same boxes. One batch is run first,
    untimed: the library compiles its heatmap decoding (numba) on its first call, seconds that
    are not its speed.
    """
    with contextlib.closing(iter_frames(path)) as decoded:  # the file closed at once
        first = [frame.rgb for frame in itertools.islice(decoded, batch_size)]
    _stock_batch(library, first, boxes, 0)
    frames, start = 0, time.perf_counter()
    for _ in range(repeat):
        batch, index = [], 0
        for frame in iter_frames(path):
            batch.append(frame.rgb)
            if len(batch) == batch_size:
                frames += _stock_batch(library, batch, boxes, index)
                index, batch = index + len(batch), []
        if batch:
            frames += _stock_batch(library, batch, boxes, index)
    if library.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return BenchResult(frames, seconds, {"face-alignment get_landmarks_from_batch": seconds})


def _stock_batch(library, frames: list[np.ndarray], boxes: SubjectLandmarks | None,
                 first: int):
    tensor = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).to(library.device)
    detected = None
    if boxes is not None:
        rows = range(first, first + len(frames))
        # float64: face-alignment fails on float32 box coordinates
        detected = [
            [np.append(boxes.box[s, i], boxes.score[s, i]).astype(np.float64)
             for s in range(boxes.count) if boxes.face[s, i]]
            for i in rows
        ]
    library.get_landmarks_from_batch(tensor, detected_faces=detected)
    return len(frames)


def use_random_fan_weights() -> Path:
    """Point torch's hub folder at a temporary one holding random-init FAN and S3FD weights."""
    import os
    import tempfile

    from annotator.processing.landmarks.fan_backend import write_random_weights

    home = Path(tempfile.mkdtemp(prefix="au-annotator-random-fan-"))
    os.environ["TORCH_HOME"] = str(home)
    return write_random_weights(home / "hub" / "checkpoints")


def summary_line(ours: BenchResult, reference: BenchResult) -> str:
    ratio = ours.fps / reference.fps if reference.fps else float("nan")
    return (f"end_to_end_fps={ours.fps:.1f} reference_fps={reference.fps:.1f} "
            f"ratio={ratio:.2f}")



def stage_profile(path: Path, info: VideoInfo, backend: LandmarkBackend,
                  device: str = "cpu") -> dict[str, float]:
    """Milliseconds per decoded frame of each stage, each timed alone on one thread over the
    same frames (end_to_end overlaps them on worker threads, so its total is smaller than the
    sum): where a frame's time goes, for the speed work."""
    from annotator.processing.extraction import ANALYSIS_SIDE
    from annotator.processing.landmarks.dlib_backend import DlibBackend
    from model.baseline import load_baseline
    from model.expression import classify, sampled_frames, sampling_stride
    from model.features import FeatureConfig, VideoFeatures, face_channels, landmark_motion

    config, seconds = FeatureConfig(), {}
    clock = _StageClock(seconds)
    with clock("decode"):
        frames = [frame.rgb for frame in iter_frames(path, ANALYSIS_SIDE)]
    count = len(frames)
    backend.reset()
    with clock("detection"):
        found = [backend.find_faces(rgb) for rgb in frames]
    faces = [(index, result[0]) for index, result in enumerate(found) if result]
    if isinstance(backend, DlibBackend):  # the fit alone, on the boxes found, taken out
        grays = [cv2.cvtColor(frames[index], cv2.COLOR_RGB2GRAY) for index, _ in faces]
        with clock("landmark fit"):
            for gray, (_, face) in zip(grays, faces, strict=True):
                backend.fit(gray, face.box)
        seconds["detection"] -= seconds["landmark fit"]
    crops, aligned = _aligned_crops(frames, faces, config, clock)
    with clock("gray and edge images"):
        images = [face_channels(crop, points, config)
                  for crop, points in zip(crops, aligned, strict=True)]
    face = np.zeros(count, bool)
    face[[index for index, _ in faces]] = True
    table = np.full((count, 68, 2), np.nan, np.float32)
    table[face] = aligned
    with clock("motion"):
        motion, has_motion = landmark_motion(table, face, config)
    full = np.zeros((count, 2, config.crop_size, config.crop_size), np.uint8)
    if images:
        full[face] = np.stack(images)
    with clock("expression network"):
        chosen = sampled_frames(face, sampling_stride(info.fps))
        expression = np.full((count, 7), np.nan, np.float32)
        expression[chosen] = classify(full[chosen, 0], device)
    features = VideoFeatures(full, motion, face, has_motion, table, expression)
    with clock("descriptors"):
        descriptors_from_features(features)
    with clock("prediction (cold start)"):
        load_baseline().predict(features)
    return {name: 1000 * value / max(count, 1) for name, value in seconds.items()}


def _aligned_crops(frames: list[np.ndarray], faces, config, clock):
    """The similarity-aligned crops and (N, 68, 2) landmarks of each face: the alignment."""
    from model.features import (
        STABLE_POINTS,
        apply_transform,
        similarity_transform,
        template_landmarks,
    )

    template = template_landmarks(config.crop_size)
    crops, aligned = [], np.zeros((len(faces), 68, 2), np.float32)
    with clock("alignment"):
        for row, (index, face) in enumerate(faces):
            matrix = similarity_transform(face.landmarks[STABLE_POINTS], template[STABLE_POINTS])
            crops.append(cv2.warpAffine(frames[index], matrix,
                                        (config.crop_size, config.crop_size),
                                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
            aligned[row] = apply_transform(matrix, face.landmarks)
    return crops, aligned


class _StageClock:
    """`with clock(name):` adds the block's wall seconds to `seconds[name]`."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
