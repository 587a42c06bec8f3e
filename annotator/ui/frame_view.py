"""Drawing one frame for the viewer: face box and landmarks, and the crop the network sees.

The crop is recomputed from the frame and its stored landmarks with the feature code itself
(`model.features.face_image`), so it is exactly the network's input without loading a whole
video's cached feature array.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from annotator.landmarks import LandmarkTable
from model.features import FeatureConfig, face_image

BOX_COLOUR = (0, 200, 80)
POINT_COLOUR = (255, 60, 60)


@dataclass(frozen=True)
class FrameView:
    annotated: np.ndarray  # (H, W, 3) uint8 frame with box and landmarks
    gray: np.ndarray | None  # (S, S) uint8 masked grayscale crop; None without a face
    edges: np.ndarray | None  # (S, S) uint8 masked edge map
    face: bool


def frame_view(rgb: np.ndarray, landmarks: LandmarkTable, index: int,
               config: FeatureConfig | None = None) -> FrameView:
    """The viewer's pictures of frame `index` (rgb is that decoded frame)."""
    face = bool(landmarks.face[index])
    annotated = rgb.copy()
    if not face:
        return FrameView(annotated, None, None, False)
    points = landmarks.landmarks[index]
    x1, y1, x2, y2 = (int(round(v)) for v in landmarks.box[index])
    thickness = max(1, round(max(rgb.shape[:2]) / 400))
    cv2.rectangle(annotated, (x1, y1), (x2, y2), BOX_COLOUR, thickness, cv2.LINE_AA)
    for x, y in points:
        cv2.circle(annotated, (int(round(x)), int(round(y))), thickness + 1, POINT_COLOUR, -1,
                   cv2.LINE_AA)
    image, _ = face_image(rgb, points, config or FeatureConfig())  # (2, S, S)
    return FrameView(annotated, image[0], image[1], True)
