"""face-alignment landmarks (FAN-4), driven in batches of face crops gathered across frames.

face-alignment's own `get_landmarks_from_batch` still runs the landmark network one frame at a
time. Here the detector runs on every `detect_every`-th frame of a chunk (batched); boxes of the
frames in between are interpolated between two detections of the same subject, and where the
subject is lost the frames in between are detected one by one. All face crops of a chunk then
go through the landmark network in one batch (fp16 on CUDA).

Crops and points follow face-alignment's own geometry: a square of side 200 × scale pixels
around the box centre (moved up by 12 % of the box height), scale = (box width + box height) /
reference_scale, resized to 256 px; the network returns 64×64 heatmaps whose peaks, nudged a
quarter pixel towards the larger neighbour, map back to the image. We do the same for a whole
batch at once, without rounding the points to whole pixels.

Weights load through face-alignment's own download-and-cache code: they download on a user's
first run into torch's hub folder (`$TORCH_HOME/hub/checkpoints`, by default
`~/.cache/torch/hub/checkpoints`). Offline and missing, the error names the file and the folder
it belongs in, so it can be copied there.
"""

from __future__ import annotations

import functools
import logging
import os
import urllib.error
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from annotator.landmarks import FaceResult, LandmarkBackend, LandmarkTable, pick_subject
from model.formats import InputError

log = logging.getLogger(__name__)

CROP_RESOLUTION = 256
HEATMAP_RESOLUTION = 64
_CENTER_Y_OFFSET = 0.12
_SIDE_PER_SCALE = 200.0
# The names face-alignment 1.5 downloads its files under (see face_alignment.api / detection).
WEIGHT_FILES = {
    "landmarks": ("2DFAN4-11f355bf06.pth.tar",
                  "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar"),
    "sfd": ("s3fd-619a316812.pth",
            "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"),
}


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


# --- crops in, points out ----------------------------------------------------------


def face_square(box: np.ndarray, reference_scale: float) -> tuple[float, float, float]:
    """(centre x, centre y, side) in pixels of the square face-alignment crops for a box."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    width, height = x2 - x1, y2 - y1
    scale = (width + height) / reference_scale
    return x2 - width / 2.0, y2 - height / 2.0 - height * _CENTER_Y_OFFSET, _SIDE_PER_SCALE * scale


def crop_faces(frames: list[np.ndarray], boxes: list[np.ndarray], reference_scale: float):
    """(B, 256, 256, 3) uint8 crops and (B, 3) squares (centre x, centre y, side)."""
    crops = np.zeros((len(frames), CROP_RESOLUTION, CROP_RESOLUTION, 3), np.uint8)
    squares = np.array([face_square(box, reference_scale) for box in boxes], np.float64)

    def crop(i: int) -> None:
        _crop_one(frames[i], squares[i], crops[i])

    # OpenCV releases the GIL, so threads use every core for large batches
    list(_crop_pool().map(crop, range(len(frames))))
    return crops, squares.reshape(len(frames), 3)


@functools.cache
def _crop_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="crop")


def _crop_one(rgb: np.ndarray, square: np.ndarray, out: np.ndarray) -> None:
    cx, cy, side = square
    # face-alignment cuts whole pixels from int(centre - side/2) on, then resizes; this
    # affine map reproduces that sampling grid.
    x0 = int(cx - side / 2 + side / CROP_RESOLUTION)
    y0 = int(cy - side / 2 + side / CROP_RESOLUTION)
    size = int(cx + side / 2) - x0
    step = CROP_RESOLUTION / max(size, 1)
    matrix = np.array([[step, 0.0, (0.5 - x0) * step - 0.5], [0.0, step, (0.5 - y0) * step - 0.5]])
    cv2.warpAffine(
        rgb, matrix, (CROP_RESOLUTION, CROP_RESOLUTION), dst=out,
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def heatmaps_to_points(heatmaps: torch.Tensor, squares: np.ndarray) -> np.ndarray:
    """(B, 68, 64, 64) heatmaps → (B, 68, 2) float32 image points, on the heatmaps' device."""
    batch, points, height, width = heatmaps.shape
    flat = heatmaps.reshape(batch, points, height * width)
    peak = flat.argmax(dim=-1)  # (B, 68)
    px, py = peak % width, peak // width
    inside = (px > 0) & (px < width - 1) & (py > 0) & (py < height - 1)
    right = flat.gather(-1, (peak + 1).clamp(max=height * width - 1).unsqueeze(-1))
    left = flat.gather(-1, (peak - 1).clamp(min=0).unsqueeze(-1))
    down = flat.gather(-1, (peak + width).clamp(max=height * width - 1).unsqueeze(-1))
    up = flat.gather(-1, (peak - width).clamp(min=0).unsqueeze(-1))
    nudge = torch.cat([right - left, down - up], dim=-1).sign() * 0.25  # (B, 68, 2)
    nudge = nudge * inside.unsqueeze(-1)
    # +1 (1-based peak) - 0.5 (pixel centre), as face-alignment does
    heatmap_xy = torch.stack([px, py], dim=-1).float() + 0.5 + nudge
    squares_t = torch.as_tensor(squares, dtype=torch.float32, device=heatmaps.device)
    side = squares_t[:, 2].view(batch, 1, 1)
    centre = squares_t[:, :2].view(batch, 1, 2)
    image_xy = heatmap_xy * side / height + centre - side / 2
    return image_xy.cpu().numpy().astype(np.float32)


# --- weights ------------------------------------------------------------------------


def weights_folder() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_face_alignment(
    device: str, dtype: torch.dtype, detector: str = "sfd", allow_download: bool = True
):
    """face_alignment.FaceAlignment for 2-D landmarks, without flip-averaging or compiling.

    `allow_download=False` fails at once on a missing file instead of trying the network.
    """
    import face_alignment  # heavy import (numba, skimage): only when the fan backend is used

    # face-alignment loads the detector first, so that is the file a failed download names
    needed = ([detector] if detector in WEIGHT_FILES else []) + ["landmarks"]
    folder = weights_folder()
    missing = [WEIGHT_FILES[n] for n in needed if not (folder / WEIGHT_FILES[n][0]).exists()]
    if missing and not allow_download:
        name, url = missing[0]
        raise InputError(folder / name, f"face-alignment weights missing; download {url} "
                                        f"into {folder}")
    if missing:
        log.warning("downloading face-alignment weights into %s", folder)
    try:
        return face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device=device, dtype=dtype,
            face_detector=detector, flip_input=False, compile=False,
        )
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        if not missing:
            raise
        name, url = missing[0]
        raise InputError(
            folder / name,
            f"face-alignment weights missing and could not be downloaded "
            f"({error.__class__.__name__}); download {url} into {folder}",
        ) from None


def write_random_weights(folder: Path) -> Path:
    """Random-init weight files under face-alignment's download names in `folder`.

    For tests and GPU benchmarks on machines that cannot download: they run the library's real
    loading code, and speed does not depend on the weights. Landmarks from them mean nothing.
    """
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / WEIGHT_FILES["landmarks"][0])
    torch.save(s3fd().state_dict(), folder / WEIGHT_FILES["sfd"][0])
    return folder
