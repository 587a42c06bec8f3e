"""Faces into subjects: which face of each frame is which person, for a whole video.

Backends find every face of a frame; `SubjectTracker` links them frame by frame:

1. Same place. A face continues a subject seen within the last MAX_GAP_S seconds when it
   overlaps the subject's last box (intersection over union at least MIN_OVERLAP), or, after a
   brief occlusion or a quick move, when its centre lies within half a face width of that box's
   centre at a similar size. Pairs are taken best first (most overlap), one face per subject.
2. Same person. A face left over is described (annotator.processing.landmarks.identity) and given
to the
   nearest subject not seen in this frame whose descriptors lie under SAME_PERSON: someone who
   left the picture and came back, however long after and wherever, keeps their number.
3. Otherwise a new subject starts.

Each subject keeps up to MAX_DESCRIPTORS descriptors: its first face, the face it came back
with, and one every DESCRIBE_EVERY_S seconds while it is followed, so a turned head still
matches. Describing a face costs about 20 ms (a hundred on a busy machine), so it is done only
when a face must be matched against subjects away: until then the faces to describe are kept
(their neighbourhood in the frame) and described on that first need, with the same result. A
video where nobody leaves and comes back describes none.

At the end (`subjects`) tracks seen on fewer than MIN_FRAMES frames are dropped as detector
noise; the others are numbered from 1 by frames seen, most first (ties: the one seen earlier,
then the one further left). A video without faces has one subject seen on no frame.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from annotator.processing.landmarks import (
    MIN_OVERLAP,
    THUMBNAIL_SIZE,
    FaceResult,
    SubjectLandmarks,
    box_overlap,
)
from annotator.processing.landmarks.identity import (
    SAME_PERSON,
    FaceIdentity,
    KeptFace,
    described,
    distance,
)
from model.au_sets import NUM_LANDMARKS

MAX_GAP_S = 1.0
MAX_DESCRIPTORS = 5
DESCRIBE_EVERY_S = 2.0
MIN_FRAMES = 3
_NEAR = 0.5  # face widths between centres that still count as the same place
_SIZE_RATIO = 1.5  # at most this much larger or smaller


_FIELDS = 4 + 1 + NUM_LANDMARKS * 2  # box, score, landmarks: one float32 row per face
_BLOCK = 4096  # rows per block of a track's faces


@dataclass
class _Track:
    """One followed face: its frames and, per frame, box + score + landmarks as float32 rows in
    fixed-size blocks (no Python object per frame and no regrowing copy, so an hour of video
    stays small)."""

    frames: array = field(default_factory=lambda: array("q"))
    blocks: list[np.ndarray] = field(default_factory=list)
    descriptors: list[np.ndarray | KeptFace] = field(default_factory=list)  # or to describe
    described_at: int = 0
    best_score: float = -np.inf
    thumbnail: np.ndarray | None = None

    def append(self, frame: int, face: FaceResult) -> None:
        count = len(self.frames)
        if count == len(self.blocks) * _BLOCK:
            self.blocks.append(np.empty((_BLOCK, _FIELDS), np.float32))
        row = self.blocks[-1][count % _BLOCK]
        row[:4] = face.box
        row[4] = face.score
        row[5:] = np.asarray(face.landmarks, np.float32).reshape(-1)
        self.frames.append(frame)

    def take_blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frames, rows) a block at a time, each block dropped once handed out."""
        frames = np.frombuffer(self.frames, np.int64)
        for start in range(0, len(frames), _BLOCK):
            part = frames[start:start + _BLOCK]
            yield part, self.blocks.pop(0)[: len(part)]

    @property
    def last_frame(self) -> int:
        return self.frames[-1] if self.frames else -1

    @property
    def last_box(self) -> np.ndarray:
        return self.blocks[-1][(len(self.frames) - 1) % _BLOCK, :4]

    def median_centre_x(self) -> float:
        boxes = np.concatenate([block[:, [0, 2]] for block in self.blocks])[: len(self.frames)]
        return float(np.median(boxes.mean(axis=1)))


class SubjectTracker:
    """Links the faces of consecutive frames into subjects (see the module docstring)."""

    def __init__(self, fps: float, identity: FaceIdentity):
        fps = fps if fps and fps > 0 else 30.0
        self.identity = identity
        self.max_gap = max(1, round(MAX_GAP_S * fps))
        self.describe_every = max(1, round(DESCRIBE_EVERY_S * fps))
        self.tracks: list[_Track] = []
        self.frame = -1

    def add(self, rgb: np.ndarray, faces: list[FaceResult]) -> list[int]:
        """The track (index into `tracks`) of each face of the next frame, in order."""
        self.frame += 1
        chosen = self._same_place(faces)
        for i, face in enumerate(faces):
            if chosen[i] is not None:
                self._record(self.tracks[chosen[i]], rgb, face)
        for i, face in enumerate(faces):
            if chosen[i] is None:
                chosen[i] = self._same_person(rgb, face)
                self._record(self.tracks[chosen[i]], rgb, face)
        return chosen

    def _same_place(self, faces: list[FaceResult]) -> list[int | None]:
        recent = [t for t, track in enumerate(self.tracks)
                  if self.frame - track.last_frame <= self.max_gap]
        pairs = []
        for i, face in enumerate(faces):
            for t in recent:
                score = _closeness(face.box, self.tracks[t].last_box)
                if score > 0:
                    pairs.append((score, i, t))
        chosen: list[int | None] = [None] * len(faces)
        used = set()
        for _, i, t in sorted(pairs, reverse=True):
            if chosen[i] is None and t not in used:
                chosen[i] = t
                used.add(t)
        return chosen

    def _same_person(self, rgb: np.ndarray, face: FaceResult) -> int:
        """The subject not seen in this frame whose descriptors are nearest, else a new one."""
        away = [t for t, track in enumerate(self.tracks) if track.last_frame < self.frame]
        descriptor: np.ndarray | KeptFace = KeptFace.of(rgb, face.box)
        distances = []
        if away:  # a description is needed now
            descriptor = described(self.identity, [descriptor])[0]
            for t in away:
                track = self.tracks[t]
                track.descriptors = described(self.identity, track.descriptors)
                distances.append(distance(descriptor, track.descriptors))
        if distances and min(distances) < SAME_PERSON:
            track = self.tracks[away[int(np.argmin(distances))]]
        else:
            track = _Track()
            self.tracks.append(track)
        track.descriptors.append(descriptor)
        track.descriptors = track.descriptors[-MAX_DESCRIPTORS:]
        track.described_at = self.frame
        return self.tracks.index(track)

    def _record(self, track: _Track, rgb: np.ndarray, face: FaceResult) -> None:
        track.append(self.frame, face)
        if (len(track.descriptors) < MAX_DESCRIPTORS
                and self.frame - track.described_at >= self.describe_every):
            track.descriptors.append(KeptFace.of(rgb, face.box))
            track.described_at = self.frame
        if face.score > track.best_score:
            track.best_score, track.thumbnail = face.score, thumbnail(rgb, face.box)

    def subjects(self, timestamps: np.ndarray) -> tuple[SubjectLandmarks, list[int | None]]:
        """Every subject's per-frame landmarks, and the track each subject number (1-based,
        index number − 1) came from (None: the empty subject of a video without faces)."""
        kept = [t for t, track in enumerate(self.tracks) if len(track.frames) >= MIN_FRAMES]

        def order(t: int):
            track = self.tracks[t]
            return -len(track.frames), track.frames[0], track.median_centre_x()

        kept.sort(key=order)
        table = SubjectLandmarks.empty(max(1, len(kept)), timestamps)
        for row, t in enumerate(kept):
            track = self.tracks[t]
            for frames, rows in track.take_blocks():
                table.face[row, frames] = True
                table.box[row, frames] = rows[:, :4]
                table.score[row, frames] = rows[:, 4]
                table.landmarks[row, frames] = rows[:, 5:].reshape(-1, NUM_LANDMARKS, 2)
            table.thumbnails[row] = track.thumbnail
        return table, (kept or [None])


def _closeness(box: np.ndarray, last: np.ndarray) -> float:
    """How surely `box` is where the subject last seen at `last` is now: the overlap, or, for
    a nearby box of similar size that overlaps too little, less than any real overlap."""
    overlap = box_overlap(box, last)
    if overlap >= MIN_OVERLAP:
        return overlap
    width = max(last[2] - last[0], 1.0)
    ratio = (box[2] - box[0]) / width
    centre_distance = np.hypot((box[0] + box[2] - last[0] - last[2]) / 2,
                               (box[1] + box[3] - last[1] - last[3]) / 2) / width
    if centre_distance < _NEAR and 1 / _SIZE_RATIO < ratio < _SIZE_RATIO:
        return MIN_OVERLAP * (1 - centre_distance / _NEAR) * 0.99
    return 0.0


def thumbnail(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3) uint8: the face's box with a fifth of margin."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(x2 - x1, y2 - y1) * 1.2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = THUMBNAIL_SIZE / max(side, 1.0)
    matrix = np.array([[scale, 0, THUMBNAIL_SIZE / 2 - cx * scale],
                       [0, scale, THUMBNAIL_SIZE / 2 - cy * scale]])
    return cv2.warpAffine(rgb, matrix, (THUMBNAIL_SIZE, THUMBNAIL_SIZE),
                          flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)

