"""Face crops in and landmark points out, following face-alignment's own geometry.

face-alignment crops a square of side 200 × scale pixels around the box centre (moved up by
12 % of the box height), scale = (box width + box height) / reference_scale, resized to 256 px;
the network returns 64×64 heatmaps whose peaks, nudged a quarter pixel towards the larger
neighbour, map back to the image. We do the same, but for a whole batch at once and without
rounding the points to whole pixels.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

CROP_RESOLUTION = 256
HEATMAP_RESOLUTION = 64
_CENTER_Y_OFFSET = 0.12
_SIDE_PER_SCALE = 200.0


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
