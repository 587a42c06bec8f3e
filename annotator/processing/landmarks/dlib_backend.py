"""dlib landmarks: HOG face detector + the 68-point shape predictor. The offline CPU default.

Detecting on every full frame is the slow part, so between full detections (every
`detect_every` frames) the detector only searches a small, downscaled window around each face
of the previous frame, and only on every `search_every`-th frame: on the frames between, each
face's last detected box is carried over, moved by as much as its landmarks moved since, and
the 68 points are fitted in it (a fit costs about a third of a window search; the fit is
annotator.processing.landmarks.regression_trees, dlib's model evaluated there). A face whose
landmarks moved more than CARRY_SHIFT of its box since the box was detected is searched for
again at once. When a window holds no face (someone left, or turned away), the frame is
searched in full instead, and the faces found there are the ones searched for next. A face that
comes into the picture is found at the next full detection; while fewer faces are followed than
were seen at once before (someone left and may come back), full detections come three times as
often. While no face is in the picture, only every `empty_every`-th frame is searched (a full
search costs several window searches). When such a search finds faces, `track` searches for
them in the unsearched frames before it too, last to first, in windows around where each face
is a frame later: a face coming into an empty picture is followed from its first frame, at the
cost of holding those few frames until the search.

A video's frames are searched in a chain (each around the faces of the one before), which
sets the pace of one video's analysis; the full searches, whose frames are known in advance,
are made beside that chain, on a thread of their own, READ_AHEAD frames early (`track`): the
searching thread took 2.8-3.3 ms of CPU a frame of the demo clip with them, 2.0-2.3 without
(docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import dlib
import numpy as np

from annotator.processing.landmarks import (
    FaceResult,
    LandmarkBackend,
    box_overlap,
    regression_trees,
    same_face,
)
from annotator.processing.landmarks.regression_trees import ShapeModel
from annotator.processing.system import forget_after_fork, give_way

log = logging.getLogger(__name__)

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
# The HOG detector's smallest face is about 80 px; windows are scaled so the face is ~90 px.
_WINDOW_FACE_SIZE = 90.0
_WINDOW_MARGIN = 0.3  # fraction of the face size added on each side of the search window
CARRY_SHIFT = 0.05  # of the box's width: landmarks moved more than this, the face is searched
CARRY_CHANGE = 8.0  # gray levels: a box whose pixels changed more on average is searched
# Frames whose gray pictures `track` makes ahead of the face search: a full search due within
# them is started early on a thread of its own (see DlibBackend.track).
READ_AHEAD = 12


def model_file(name: str) -> Path:
    """A dlib model file inside the installed face_recognition_models package.

    Located without importing the package: its __init__ needs pkg_resources.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dlib models are missing: pip install face_recognition_models")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise RuntimeError(f"{path}: dlib model file is missing; reinstall "
                           "face_recognition_models")
    return path


@functools.cache
def _gray_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="gray", initializer=give_way)


@functools.cache
def _full_search_pool() -> ThreadPoolExecutor:
    """One thread making the full searches due a few frames ahead of the face search."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="full-search",
                              initializer=give_way)


forget_after_fork(_gray_pool)
forget_after_fork(_full_search_pool)


_local = threading.local()


def _thread_detector():
    """The HOG face detector of the calling thread (one per thread: searches run side by
    side)."""
    if not hasattr(_local, "detector"):
        _local.detector = dlib.get_frontal_face_detector()
    return _local.detector


def predictor_path() -> Path:
    """The 68-point landmark model."""
    return model_file(PREDICTOR_FILE)


@functools.cache
def shape_model() -> ShapeModel | DlibPredictor:
    """The 68-point model (65 MB of trees), read once a process and shared by every DlibBackend
    and thread (a fit never changes it). The corpus's worker processes are forked from one that
    read it (dlib_loaded), so they share its pages instead of reading one copy each. Where the
    compiled fit was not built (no C compiler at install), dlib's own predictor: the same
    landmarks, slower, holding the GIL."""
    if regression_trees.available():
        return regression_trees.read(predictor_path())
    log.warning("the compiled 68-point fit was not built (no C compiler when installed); "
                "fitting with dlib's own predictor: same landmarks, slower")
    return DlibPredictor()


class DlibPredictor:
    """dlib's own shape predictor with ShapeModel.fit's signature: the reference that `bench`
    times and that the landmarks of regression_trees are checked against."""

    def __init__(self):
        self.predictor = dlib.shape_predictor(str(predictor_path()))

    def fit(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        shape = self.predictor(gray, dlib.rectangle(*box))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


class DlibBackend(LandmarkBackend):
    name = "dlib"

    def __init__(self, detect_every: int = 30, upsample: int = 0, detect_width: int = 640,
                 search_every: int = 3, empty_every: int = 8,
                 model: ShapeModel | DlibPredictor | None = None):
        """`detect_width`: wider frames are shrunk to this width for full-frame detection
        (faces under ~80 px at that width are missed; AU coding needs larger faces anyway).
        `search_every` 1: a window search on every frame between full detections;
        `empty_every` 1: a full search on every frame without a face before it.
        `model`: what fits the 68 points (shape_model() unless given)."""
        self.detect_every = detect_every
        self.search_every = search_every
        self.empty_every = empty_every
        self.detect_width = detect_width
        self.upsample = upsample
        # the early searches' detector (one of their thread's own) loads beside this one,
        # 0.2-0.3 s each, so that the first video's analysis does not wait for it
        searches_ready = _full_search_pool().submit(_thread_detector)
        self.detector = dlib.get_frontal_face_detector()
        self.model = model or shape_model()
        searches_ready.result()
        self.reset()

    def reset(self) -> None:
        self._previous: list[np.ndarray] = []  # the faces of the previous frame
        self._detected: list[tuple[np.ndarray, float, np.ndarray]] = []  # box, score, centre
        self._centres: list[np.ndarray] = []  # landmark centre of each previous face
        self._gray: np.ndarray | None = None  # the previous frame
        self._since_full = 0
        self._since_search = 0
        self._unsearched = 0  # frames still to skip after a full search found no face
        self._most = 0  # the most faces seen in one frame so far
        self._frame = -1  # index of the frame `track` searches now
        self._ahead: deque[Future] = deque()  # gray pictures of the frames after it
        self._early: dict[int, Future] = {}  # full searches started early, by frame index

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[list[FaceResult]]:
        """The faces of each frame. Gray pictures are made on another thread, READ_AHEAD
        frames ahead of the search: the next full search is known in advance (detect_every
        frames after the last, or empty_every while no face is in the picture), so when its
        frame is among them it starts early, on a thread of its own, and the search takes its
        result when it gets there (a window that loses its face brings a full search sooner;
        that one is made on the spot and the early one is dropped). Same faces either way.
        The frames of an empty picture that are not searched wait for the next search: when
        it finds faces, they are searched for in those frames too, last to first (windows
        around the faces of the frame after), so a face that came in is followed from its
        first frame."""
        unsearched: list[np.ndarray] = []  # gray pictures of an empty stretch not searched
        # this call's own: a run abandoned part-way never hands its frames to the next
        ahead: deque[Future] = deque()
        early: dict[int, Future] = {}
        self._ahead, self._early = ahead, early
        try:
            for rgb in frames:
                ahead.append(_gray_pool().submit(cv2.cvtColor, rgb, cv2.COLOR_RGB2GRAY))
                if len(ahead) > READ_AHEAD:
                    self._frame += 1
                    yield from self._found_after(ahead.popleft().result(), unsearched)
            while ahead:
                self._frame += 1
                yield from self._found_after(ahead.popleft().result(), unsearched)
        finally:
            ahead.clear()
            for future in early.values():
                future.cancel()
            early.clear()
        for _ in unsearched:  # the video ended before the next search
            yield []

    def _found_after(self, gray: np.ndarray,
                     unsearched: list[np.ndarray]) -> Iterator[list[FaceResult]]:
        """The faces of this frame, after those of the unsearched frames before it (none
        given back while this one is not searched either)."""
        if self._skip():
            unsearched.append(gray)
            return
        found = self._find(gray)
        if unsearched:
            yield from self._search_back(unsearched, found)
            unsearched.clear()
        yield found

    def _search_back(self, grays: list[np.ndarray],
                     after: list[FaceResult]) -> list[list[FaceResult]]:
        """The faces of `grays` (consecutive frames, in order), each searched for in a window
        around where it is in the frame after, from the last frame back until none is found."""
        results: list[list[FaceResult]] = [[] for _ in grays]
        boxes = [face.box for face in after]
        for at in range(len(grays) - 1, -1, -1):
            found = self._search_windows(grays[at], boxes, every=False)
            if not found:
                break
            results[at] = self._fitted(grays[at], found)
            boxes = [box for box, _ in found]
        return results

    def find_faces(self, rgb: np.ndarray) -> list[FaceResult]:
        """Every face of one frame, searching around the previous frame's faces when it may."""
        return self.find_faces_in(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))

    def find_faces_in(self, gray: np.ndarray) -> list[FaceResult]:
        """find_faces of the frame's gray picture."""
        return [] if self._skip() else self._find(gray)

    def _skip(self) -> bool:
        """Whether this frame of an empty picture goes unsearched (counted as it is asked)."""
        if not self._previous and self._unsearched > 0:
            self._unsearched -= 1
            return True
        return False

    def _every(self, followed: int, most: int) -> int:
        """Windowed frames between two full searches while `followed` faces are followed and
        `most` were once seen at once: detect_every, or a third of it while someone is
        missing."""
        if followed < most:
            return max(0, self.detect_every // 3 - 1)
        return self.detect_every

    def _find(self, gray: np.ndarray) -> list[FaceResult]:
        every = self._every(len(self._previous), self._most)
        found, carried = None, False
        if self._previous and self._since_full < every:
            self._since_full += 1
            carried = (self._since_search + 1 < self.search_every and self._barely_moved()
                       and self._same_picture(gray))
            if carried:
                found = self._carried()
                self._since_search += 1
            else:
                found = self._search_windows(gray, self._previous)
                self._since_search = 0
        if found is None:
            found = self._full_search(gray)
            self._since_full = self._since_search = 0
            self._unsearched = 0 if found else self.empty_every - 1
        results = self._fitted(gray, found)
        self._previous = [box for box, _ in found]
        self._gray = gray
        self._centres = [face.landmarks.mean(axis=0) for face in results]
        if not carried:
            self._detected = [(box, score, centre)
                              for (box, score), centre in zip(found, self._centres, strict=True)]
        self._most = max(self._most, len(found))
        self._search_early()
        return results

    def _next_full(self) -> int:
        """The index of the frame the next full search is due at, as things stand."""
        if not self._previous:
            return self._frame + self._unsearched + 1
        return self._frame + self._every(len(self._previous), self._most) - self._since_full + 1

    def _search_early(self) -> None:
        """Start the next full search now when its frame's gray picture is read ahead."""
        self._drop_early(self._frame)
        due = self._next_full()
        at = due - self._frame - 1
        if due not in self._early and 0 <= at < len(self._ahead):
            self._early[due] = _full_search_pool().submit(self._search_full_of,
                                                          self._ahead[at])

    def _search_full_of(self, gray: Future) -> list[tuple[np.ndarray, float]]:
        """On the early search's thread: _search_full of a gray picture being made."""
        return self._search_full(gray.result(), _thread_detector())

    def _drop_early(self, up_to: int) -> None:
        """Forget the early full searches of frames up to `up_to`."""
        for frame in [f for f in self._early if f <= up_to]:
            self._early.pop(frame).cancel()

    def _full_search(self, gray: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """_search_full of this frame: the one started early when there is one."""
        early = self._early.pop(self._frame, None)
        if early is not None and not early.cancel():
            return early.result()
        return self._search_full(gray)

    def _barely_moved(self) -> bool:
        """Whether every face's landmarks stayed within CARRY_SHIFT of where they were when
        its box was detected."""
        return all(np.abs(centre - detected).max() <= CARRY_SHIFT * (box[2] - box[0])
                   for (box, _, detected), centre in zip(self._detected, self._centres,
                                                         strict=True))

    def _same_picture(self, gray: np.ndarray) -> bool:
        """Whether each previous face's box shows about the same pixels as in the previous
        frame (no cut, nobody left the picture)."""
        for box in self._previous:
            x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
            x2, y2 = int(box[2]), int(box[3])
            now, before = gray[y1:y2, x1:x2], self._gray[y1:y2, x1:x2]
            if now.size == 0 or cv2.norm(now, before, cv2.NORM_L1) > CARRY_CHANGE * now.size:
                return False
        return True

    def _carried(self) -> list[tuple[np.ndarray, float]]:
        """Each face's detected box, moved by as much as its landmarks moved since."""
        return [(box + np.tile(centre - detected, 2).astype(np.float32), score)
                for (box, score, detected), centre in zip(self._detected, self._centres,
                                                          strict=True)]

    def _detect(self, gray: np.ndarray, detector=None) -> tuple[list[np.ndarray], list[float]]:
        rects, scores, _ = (detector or self.detector).run(gray, self.upsample, 0.0)
        boxes = [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32) for r in rects]
        return boxes, list(scores)

    def _search_full(self, gray: np.ndarray,
                     detector=None) -> list[tuple[np.ndarray, float]]:
        scale = min(1.0, self.detect_width / gray.shape[1])
        if scale < 1.0:
            small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            boxes, scores = self._detect(small, detector)
            boxes = [b / scale for b in boxes]
        else:
            boxes, scores = self._detect(gray, detector)
        return list(zip(boxes, map(float, scores), strict=True))

    def _search_windows(self, gray: np.ndarray, around: list[np.ndarray],
                        every: bool = True) -> list[tuple[np.ndarray, float]] | None:
        """Each face of `around` (boxes) found again in a window around it; when one is
        missing, None (`every`) or the others."""
        found: list[tuple[np.ndarray, float]] = []
        for previous in around:
            again = self._search_window(gray, previous)
            if again is None:
                if every:
                    return None
                continue
            if all(box_overlap(again[0], box) < 0.5 for box, _ in found):  # two windows, one face
                found.append(again)
        return found

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
        chosen = same_face(boxes, previous)
        if chosen is None:
            return None
        return boxes[chosen], float(scores[chosen])

    def _fitted(self, gray: np.ndarray,
                found: list[tuple[np.ndarray, float]]) -> list[FaceResult]:
        """Each found face (box, score) with its 68 points."""
        return [FaceResult(True, box, score, self.fit(gray, box)) for box, score in found]

    def fit(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(68, 2) landmarks of the face in `box` of a gray frame: the 68-point fit alone."""
        return self.model.fit(gray, tuple(int(round(v)) for v in box))
