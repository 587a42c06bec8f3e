"""dlib landmarks: HOG face detector + the 68-point shape predictor. The offline CPU default.

Detecting on every full frame is the slow part, so between full detections (every
`detect_every` frames) the detector only searches a small, downscaled window around the
previous face. When that window holds no face, the track is lost and the next frame is
searched in full again.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import dlib
import numpy as np

from annotator.landmarks import FaceResult, LandmarkBackend, pick_subject
from model.formats import NUM_LANDMARKS

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
# The HOG detector's smallest face is about 80 px; windows are scaled so the face is ~90 px.
_WINDOW_FACE_SIZE = 90.0
_WINDOW_MARGIN = 0.3  # fraction of the face size added on each side of the search window


def predictor_path() -> Path:
    """The 68-point model inside the installed face_recognition_models package.

    Located without importing the package: its __init__ needs pkg_resources.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the dlib landmark model is missing: pip install face_recognition_models"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise RuntimeError(f"{path}: dlib landmark model file is missing; reinstall "
                           "face_recognition_models")
    return path


class DlibBackend(LandmarkBackend):
    name = "dlib"

    def __init__(self, detect_every: int = 30, upsample: int = 0, detect_width: int = 640):
        """`detect_width`: wider frames are shrunk to this width for full-frame detection
        (faces under ~80 px at that width are missed; AU coding needs larger faces anyway)."""
        self.detect_every = detect_every
        self.detect_width = detect_width
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor_path()))
        self.reset()

    def reset(self) -> None:
        self._previous: np.ndarray | None = None
        self._since_full = 0

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[FaceResult]:
        for rgb in frames:
            yield self.find(rgb)

    def find(self, rgb: np.ndarray) -> FaceResult:
        """The subject's face in one frame, using (and updating) the track."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        found = None
        if self._previous is not None and self._since_full < self.detect_every:
            found = self._search_window(gray, self._previous)
            self._since_full += 1
        if found is None:
            found = self._search_full(gray)
            self._since_full = 0
        if found is None:
            self._previous = None
            return FaceResult.no_face()
        box, score = found
        self._previous = box
        return FaceResult(True, box, score, self._landmarks(gray, box))

    def _detect(self, gray: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
        rects, scores, _ = self.detector.run(gray, self.upsample, 0.0)
        boxes = [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32) for r in rects]
        return boxes, list(scores)

    def _search_full(self, gray: np.ndarray):
        scale = min(1.0, self.detect_width / gray.shape[1])
        if scale < 1.0:
            small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            boxes, scores = self._detect(small)
            boxes = [b / scale for b in boxes]
        else:
            boxes, scores = self._detect(gray)
        chosen = pick_subject(boxes, self._previous)
        if chosen is None and self._previous is not None:
            chosen = pick_subject(boxes, None)  # the subject left: follow the largest face
        if chosen is None:
            return None
        return boxes[chosen], float(scores[chosen])

    def _search_window(self, gray: np.ndarray, previous: np.ndarray):
        size = max(previous[2] - previous[0], previous[3] - previous[1])
        margin = size * _WINDOW_MARGIN
        x1 = int(max(0, previous[0] - margin))
        y1 = int(max(0, previous[1] - margin))
        x2 = int(min(gray.shape[1], previous[2] + margin))
        y2 = int(min(gray.shape[0], previous[3] + margin))
        if x2 - x1 < 16 or y2 - y1 < 16:
            return None
        scale = min(1.0, _WINDOW_FACE_SIZE / size)
        window = gray[y1:y2, x1:x2]
        if scale < 1.0:
            window = cv2.resize(window, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes, scores = self._detect(np.ascontiguousarray(window))
        boxes = [b / scale + np.array([x1, y1, x1, y1], np.float32) for b in boxes]
        chosen = pick_subject(boxes, previous)
        if chosen is None:
            return None
        return boxes[chosen], float(scores[chosen])

    def _landmarks(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = self.predictor(gray, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        return points.reshape(NUM_LANDMARKS, 2)
