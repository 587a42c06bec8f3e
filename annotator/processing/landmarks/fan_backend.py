"""face-alignment landmarks (FAN-4), driven in batches of face crops gathered across frames.

face-alignment's own `get_landmarks_from_batch` still runs the landmark network one frame at a
time. Here the detector runs on every `detect_every`-th frame of a chunk (batched). When the
faces of two such frames pair up one to one (each overlaps its partner), the boxes of the frames
in between are interpolated between the partners; otherwise (someone came, left, or no face at
all) the frames in between are detected too. All face crops of a chunk, every face of every
frame, then go through the landmark network in one batch (fp16 on CUDA).

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

from annotator.processing.landmarks import FaceResult, LandmarkBackend, SubjectLandmarks, same_face
from model.errors import InputError

log = logging.getLogger(__name__)

CROP_RESOLUTION = 256
CUDA_BATCH_STEP = 32  # landmark batches on CUDA are padded to a multiple of this many faces
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
        self.known_boxes: SubjectLandmarks | None = None
        self.reset()

    def reset(self) -> None:
        self._frame = 0  # index of the next frame `track` receives

    def use_known_boxes(self, table: SubjectLandmarks | None) -> None:
        """Take each frame's face boxes from `table` (e.g. the dlib backend's) instead of the
        detector. The benchmarks use it so random-weight networks still see real faces."""
        self.known_boxes = table

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[list[FaceResult]]:
        chunk: list[np.ndarray] = []
        for rgb in frames:
            chunk.append(rgb)
            if len(chunk) == self.chunk_size:
                yield from self._process_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._process_chunk(chunk)

    def _process_chunk(self, frames: list[np.ndarray]) -> list[list[FaceResult]]:
        if self.known_boxes is not None:
            faces = self._known_faces(len(frames))
        else:
            faces = self._detected_faces(frames)
        self._frame += len(frames)
        wanted = [(i, box, score) for i, found in enumerate(faces) for box, score in found]
        results: list[list[FaceResult]] = [[] for _ in frames]
        if not wanted:
            return results
        points = self.landmarks_for_boxes([frames[i] for i, _, _ in wanted],
                                          [box for _, box, _ in wanted])
        for (i, box, score), landmarks in zip(wanted, points, strict=True):
            results[i].append(FaceResult(True, np.asarray(box, np.float32), score, landmarks))
        return results

    @torch.inference_mode()
    def landmarks_for_boxes(self, frames: list[np.ndarray], boxes: list[np.ndarray]):
        """68×2 landmarks (pixels) for one box per frame, in one batch through the network.

        On CUDA the batch is padded to a multiple of CUDA_BATCH_STEP: face-alignment turns on
        cuDNN's autotuning, which tunes again for every new batch size, and a chunk holds as
        many faces as its frames show (one size per chunk, without padding)."""
        crops, transforms = crop_faces(frames, boxes, self.detector.reference_scale)
        batch = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2)  # (B, 3, 256, 256)
        batch = batch.to(self.dtype).div_(255.0)
        count = len(batch)
        if self.device.startswith("cuda") and count % CUDA_BATCH_STEP:
            padding = CUDA_BATCH_STEP - count % CUDA_BATCH_STEP
            batch = torch.cat([batch, batch.new_zeros((padding, *batch.shape[1:]))])
        heatmaps = self.network(batch)
        if isinstance(heatmaps, list):
            heatmaps = heatmaps[-1]
        return heatmaps_to_points(heatmaps[:count].float(), transforms)

    # --- where the faces of each frame are -----------------------------------------------

    def _known_faces(self, count: int) -> list[list[tuple[np.ndarray, float]]]:
        table = self.known_boxes
        rows = range(self._frame, self._frame + count)
        if rows.stop > len(table):
            raise ValueError(f"known boxes cover {len(table)} frames; frame {rows.stop - 1} came")
        return [[(table.box[s, i], float(table.score[s, i]))
                 for s in range(table.count) if table.face[s, i]] for i in rows]

    def _detect(self, frames: list[np.ndarray]) -> list[list[tuple[np.ndarray, float]]]:
        batch = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2).float()
        detections = self.detector.detect_from_batch(batch)
        return [[(np.asarray(f[:4], np.float32), float(f[4])) for f in faces]
                for faces in detections]

    def _detected_faces(self, frames: list[np.ndarray]) -> list[list[tuple[np.ndarray, float]]]:
        count = len(frames)
        keys = sorted(set(range(0, count, self.detect_every)) | {count - 1})
        faces: list = [None] * count
        for key, found in zip(keys, self._detect([frames[k] for k in keys]), strict=True):
            faces[key] = found
        for left, right in zip(keys, keys[1:], strict=False):
            middle = list(range(left + 1, right))
            if not middle:
                continue
            partners = _partners(faces[left], faces[right])
            if partners is None:
                for i, found in zip(middle, self._detect([frames[i] for i in middle]),
                                    strict=True):
                    faces[i] = found
                continue
            for i in middle:  # the same people at both ends: their boxes move smoothly
                weight = (i - left) / (right - left)
                faces[i] = [((1 - weight) * a + weight * b, score) for a, b, score in partners]
        return faces


def _partners(left: list, right: list) -> list[tuple[np.ndarray, np.ndarray, float]] | None:
    """(box at the left frame, its partner at the right frame, left score) for each face when
    the faces of both frames pair up one to one; None otherwise (or when there is no face)."""
    if not left or len(left) != len(right):
        return None
    remaining = [box for box, _ in right]
    pairs = []
    for box, score in left:
        partner = same_face(remaining, box)
        if partner is None:
            return None
        pairs.append((box, remaining.pop(partner), score))
    return pairs


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
