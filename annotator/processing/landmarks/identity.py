"""Who a face is: dlib's 128-D face descriptor, so a subject who leaves the picture and comes
back is known again.

The descriptor is dlib's ResNet face recognition model (`dlib_face_recognition_resnet_model_v1`,
shipped in `face_recognition_models` beside the landmark model), computed on the face aligned
by dlib's own 5-point model from the face's box. It reads the box only, never a backend's 68
landmarks, so both backends (and `fan` with random weights) tell people apart the same way.
Two descriptors of one person lie closer than SAME_PERSON (dlib's own threshold: 0.6
Euclidean; about 0.3 for one person across a clip, 0.8 between two people in our test clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import dlib
import numpy as np

from annotator.processing.landmarks.dlib_backend import model_file

DESCRIPTOR_SIZE = 128
SAME_PERSON = 0.6
_ALIGNMENT_MODEL = "shape_predictor_5_face_landmarks.dat"
_DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
# A face kept to describe later keeps this much of its box's size around it on each side: more
# than the aligned chip the descriptor is computed on reaches, so the description is the one
# the whole frame gives.
_KEPT_MARGIN = 0.6


@dataclass(frozen=True)
class KeptFace:
    """The pixels around a face, kept to be described when a description is first needed."""

    rgb: np.ndarray  # (h, w, 3) uint8: the face's neighbourhood in its frame
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in `rgb`'s pixels

    @classmethod
    def of(cls, rgb: np.ndarray, box: np.ndarray) -> KeptFace:
        """The face in `box` (x1, y1, x2, y2 pixels) of an RGB frame."""
        width, height = box[2] - box[0], box[3] - box[1]
        x1 = int(max(0, np.floor(box[0] - _KEPT_MARGIN * width)))
        y1 = int(max(0, np.floor(box[1] - _KEPT_MARGIN * height)))
        x2 = int(min(rgb.shape[1], np.ceil(box[2] + _KEPT_MARGIN * width)))
        y2 = int(min(rgb.shape[0], np.ceil(box[3] + _KEPT_MARGIN * height)))
        shift = np.array([x1, y1, x1, y1], np.float32)
        return cls(rgb[y1:y2, x1:x2].copy(), np.asarray(box[:4], np.float32) - shift)


class FaceIdentity:
    """Descriptors of face boxes (pixels of an RGB frame)."""

    def __init__(self):
        self.alignment = dlib.shape_predictor(str(model_file(_ALIGNMENT_MODEL)))
        self.network = dlib.face_recognition_model_v1(str(model_file(_DESCRIPTOR_MODEL)))

    def describe(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(128,) float32 descriptor of the face in `box` (x1, y1, x2, y2)."""
        rect = dlib.rectangle(*(int(round(float(v))) for v in box[:4]))
        shape = self.alignment(rgb, rect)
        return np.asarray(self.network.compute_face_descriptor(rgb, shape), np.float32)


def described(identity: FaceIdentity, faces: list[np.ndarray | KeptFace]) -> list[np.ndarray]:
    """Descriptors of `faces`, describing the ones kept for later now."""
    return [identity.describe(face.rgb, face.box) if isinstance(face, KeptFace) else face
            for face in faces]


def distance(descriptor: np.ndarray, known: list[np.ndarray]) -> float:
    """The smallest Euclidean distance from `descriptor` to any of `known` (inf when none)."""
    if not known:
        return float("inf")
    return float(np.min(np.linalg.norm(np.asarray(known) - descriptor, axis=1)))
