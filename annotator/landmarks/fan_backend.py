"""face-alignment landmarks (FAN-4), driven in batches of face crops gathered across frames.

face-alignment's own `get_landmarks_from_batch` still runs the landmark network one frame at a
time. Here the detector runs on every `detect_every`-th frame of a chunk (batched); boxes of the
frames in between are interpolated between two detections of the same subject, and where the
subject is lost the frames in between are detected one by one. All face crops of a chunk then
go through the landmark network in one batch (fp16 on CUDA).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from annotator.landmarks.base import FaceResult, LandmarkBackend, LandmarkTable
from annotator.landmarks.fan_crops import crop_faces, heatmaps_to_points
from annotator.landmarks.fan_weights import load_face_alignment
from annotator.landmarks.subject import pick_subject

log = logging.getLogger(__name__)


class FanBackend(LandmarkBackend):
    name = "fan"

    def __init__(
        self, device: str = "cuda", detector: str = "sfd", detect_every: int = 8,
        chunk_size: int = 128, allow_download: bool = True,
    ):
        self.device = device
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.library = load_face_alignment(device, self.dtype, detector, allow_download)
        self.network = self.library.face_alignment_net
        self.detector = self.library.face_detector
        self.detect_every = max(1, detect_every)
        self.chunk_size = chunk_size
        self.known_boxes: LandmarkTable | None = None
        self.reset()

    def reset(self) -> None:
        self._previous: np.ndarray | None = None
        self._frame = 0  # index of the next frame `track` receives

    def use_known_boxes(self, table: LandmarkTable | None) -> None:
        """Take each frame's face box from `table` (e.g. the dlib backend's) instead of the
        detector. The benchmarks use it so random-weight networks still see real faces."""
        self.known_boxes = table

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[FaceResult]:
        chunk: list[np.ndarray] = []
        for rgb in frames:
            chunk.append(rgb)
            if len(chunk) == self.chunk_size:
                yield from self._process_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._process_chunk(chunk)

    def _process_chunk(self, frames: list[np.ndarray]) -> list[FaceResult]:
        if self.known_boxes is not None:
            boxes, scores = self._known_boxes(len(frames))
        else:
            boxes, scores = self._subject_boxes(frames)
        self._frame += len(frames)
        with_face = [i for i, box in enumerate(boxes) if box is not None]
        results = [FaceResult.no_face() for _ in frames]
        if not with_face:
            return results
        points = self.landmarks_for_boxes(
            [frames[i] for i in with_face], [boxes[i] for i in with_face]
        )
        for i, landmarks in zip(with_face, points, strict=True):
            results[i] = FaceResult(True, boxes[i].astype(np.float32), scores[i], landmarks)
        return results

    @torch.inference_mode()
    def landmarks_for_boxes(self, frames: list[np.ndarray], boxes: list[np.ndarray]):
        """68×2 landmarks (pixels) for one box per frame, in one batch through the network."""
        crops, transforms = crop_faces(frames, boxes, self.detector.reference_scale)
        batch = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2)  # (B, 3, 256, 256)
        batch = batch.to(self.dtype).div_(255.0)
        heatmaps = self.network(batch)
        if isinstance(heatmaps, list):
            heatmaps = heatmaps[-1]
        return heatmaps_to_points(heatmaps.float(), transforms)

    # --- which box belongs to the subject in each frame ---------------------------------

    def _known_boxes(self, count: int):
        table = self.known_boxes
        rows = range(self._frame, self._frame + count)
        if rows.stop > len(table):
            raise ValueError(f"known boxes cover {len(table)} frames; frame {rows.stop - 1} came")
        boxes = [table.box[i] if table.face[i] else None for i in rows]
        return boxes, [float(table.score[i]) for i in rows]

    def _detect(self, frames: list[np.ndarray]) -> list[tuple[list[np.ndarray], list[float]]]:
        batch = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2).float()
        detections = self.detector.detect_from_batch(batch)
        out = []
        for faces in detections:
            faces = [np.asarray(f, np.float32) for f in faces]
            out.append(([f[:4] for f in faces], [float(f[4]) for f in faces]))
        return out

    def _follow(self, detections) -> tuple[np.ndarray | None, float]:
        boxes, scores = detections
        chosen = pick_subject(boxes, self._previous)
        if chosen is None and self._previous is not None:
            chosen = pick_subject(boxes, None)
        if chosen is None:
            self._previous = None
            return None, 0.0
        self._previous = boxes[chosen]
        return boxes[chosen], scores[chosen]

    def _subject_boxes(self, frames: list[np.ndarray]):
        count = len(frames)
        keys = sorted(set(range(0, count, self.detect_every)) | {count - 1})
        key_detections = dict(zip(keys, self._detect([frames[k] for k in keys]), strict=True))
        boxes: list[np.ndarray | None] = [None] * count
        scores = [0.0] * count
        for left, right in zip(keys, keys[1:] + [None], strict=True):
            boxes[left], scores[left] = self._follow(key_detections[left])
            if right is None:
                break
            self._fill_between(frames, left, right, key_detections[right], boxes, scores)
        return boxes, scores

    def _fill_between(self, frames, left, right, right_detections, boxes, scores) -> None:
        left_box = boxes[left]
        saved = self._previous
        right_box, _ = self._follow(right_detections)
        self._previous = saved
        if left_box is not None and right_box is not None:
            # Same subject at both ends: its box moves smoothly in between.
            for i in range(left + 1, right):
                weight = (i - left) / (right - left)
                boxes[i] = (1 - weight) * left_box + weight * right_box
                scores[i] = scores[left]
            return
        # Lost or found within the interval: look at every frame in between.
        middle = list(range(left + 1, right))
        if not middle:
            return
        for i, detections in zip(middle, self._detect([frames[i] for i in middle]), strict=True):
            boxes[i], scores[i] = self._follow(detections)
