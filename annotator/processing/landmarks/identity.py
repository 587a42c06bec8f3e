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

import dlib
import numpy as np

from annotator.processing.landmarks.dlib_backend import model_file

DESCRIPTOR_SIZE = 128
SAME_PERSON = 0.6
_ALIGNMENT_MODEL = "shape_predictor_5_face_landmarks.dat"
_DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


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


def distance(descriptor: np.ndarray, known: list[np.ndarray]) -> float:
    """The smallest Euclidean distance from `descriptor` to any of `known` (inf when none)."""
    if not known:
        return float("inf")
    return float(np.min(np.linalg.norm(np.asarray(known) - descriptor, axis=1)))
