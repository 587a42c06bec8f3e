"""Input features: masking, alignment, edges, motion and no-face handling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from model.au_sets import CROP_SIZE
from model.features import (
    EYE_LEFT,
    EYE_RIGHT,
    MEAN_SHAPE,
    FeatureConfig,
    VideoFeatures,
    face_image,
    face_mask,
    features_from_frames,
    template_landmarks,
)


def _dlib_mean_shape(model_file: Path) -> np.ndarray:
    """The initial shape at the start of dlib's 68-point model file (dlib serialisation)."""
    data = model_file.read_bytes()[:4096]
    position = 0

    def integer() -> int:
        nonlocal position
        control = data[position]
        size = control & 0x0F
        value = int.from_bytes(data[position + 1 : position + 1 + size], "little")
        position += 1 + size
        return -value if control & 0x80 else value

    integer()  # format version
    rows, columns = -integer(), -integer()
    values = [integer() * 2.0 ** integer() for _ in range(rows * columns)]  # mantissa, exponent
    return np.array(values).reshape(-1, 2)


def test_template_is_dlibs_mean_face(dlib_shape_model):
    assert np.allclose(MEAN_SHAPE, _dlib_mean_shape(dlib_shape_model), atol=6e-5)


def test_background_outside_the_face_is_black(single_face_features):
    image = single_face_features.images[0]  # (2, S, S); the frame's corners show a bright door
    for channel in image:
        assert not channel[:8, :8].any() and not channel[:8, -8:].any()
    mask = face_mask(single_face_features.aligned_landmarks[0], FeatureConfig())
    assert not image[:, mask == 0].any()
    inside = cv2.erode(mask, np.ones((5, 5), np.uint8)) == 1
    assert (image[0][inside] > 0).mean() > 0.99  # the face itself is kept


def test_alignment_puts_the_eyes_at_the_template_positions(single_face_features):
    template = template_landmarks(CROP_SIZE)
    aligned = single_face_features.aligned_landmarks[single_face_features.face]
    for eye in (EYE_LEFT, EYE_RIGHT):
        error = np.linalg.norm(aligned[:, eye].mean(axis=1) - template[eye].mean(axis=0), axis=1)
        assert error.max() < 2.5  # pixels of the 112-px crop


def test_a_rotated_smaller_face_gives_the_same_crop(single_face_landmarks):
    frames, landmarks, _ = single_face_landmarks
    height, width = frames[0].shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 20, 0.8)  # 20° roll, 80 % size
    turned = cv2.warpAffine(frames[0], turn, (width, height))
    turned_landmarks = landmarks[0] @ turn[:, :2].T + turn[:, 2]
    config = FeatureConfig()
    upright, upright_aligned = face_image(frames[0], landmarks[0], config)
    rotated, rotated_aligned = face_image(turned, turned_landmarks, config)
    assert np.abs(upright_aligned - rotated_aligned).max() < 0.01
    assert np.abs(upright[0].astype(int) - rotated[0]).mean() < 6  # gray levels of 255


def test_edge_channel_outlines_the_face_parts(single_face_features):
    edges = single_face_features.images[0, 1]
    mask = face_mask(single_face_features.aligned_landmarks[0], FeatureConfig())
    assert set(np.unique(edges)) <= {0, 255}
    assert 0.03 < (edges[mask == 1] > 0).mean() < 0.3
    template = np.round(template_landmarks(CROP_SIZE)).astype(int)
    for part in (EYE_LEFT, EYE_RIGHT, np.arange(48, 60)):  # eyes and mouth carry edges
        x0, y0 = template[part].min(axis=0) - 2
        x1, y1 = template[part].max(axis=0) + 3
        assert edges[y0:y1, x0:x1].any()


def test_video_without_a_face_gives_zero_images_and_no_motion(no_face_features):
    features = no_face_features
    assert len(features) == 95
    assert not features.face.any() and not features.has_motion.any()
    assert not np.asarray(features.images).any() and not features.motion.any()
    assert np.isnan(features.aligned_landmarks).all()


def test_motion_is_the_aligned_difference_of_the_neighbours(single_face_features):
    aligned, motion = single_face_features.aligned_landmarks, single_face_features.motion
    expected = (aligned[11] - aligned[9]).reshape(-1) / CROP_SIZE
    assert np.allclose(motion[10], expected, atol=1e-6)
    assert not single_face_features.has_motion[0] and not single_face_features.has_motion[-1]
    assert single_face_features.has_motion[1:-1].all()
    assert not motion[0].any() and not motion[-1].any()


def test_frames_beside_a_faceless_frame_have_no_motion(single_face_landmarks):
    frames, landmarks, face = single_face_landmarks
    face = face.copy()
    face[30] = False  # as if the detector had missed the face in frame 30
    features = features_from_frames(frames, landmarks, face, FeatureConfig(motion_offset=2))
    assert not features.images[30].any()
    missing = np.flatnonzero(~features.has_motion)
    assert missing.tolist() == [0, 1, 28, 30, 32, 70, 71]
    assert not features.motion[missing].any()


def test_images_written_to_disk_as_made_equal_those_held_in_memory(single_face_landmarks, tmp_path):
    frames, landmarks, face = single_face_landmarks
    face = face.copy()
    face[[3, 40]] = False
    held = features_from_frames(frames, landmarks, face)
    spilled = features_from_frames(frames, landmarks, face, spill=tmp_path / "images.npy")
    assert not isinstance(spilled.images, np.ndarray)
    assert np.array_equal(np.asarray(spilled.images), held.images)
    assert np.array_equal(spilled.images[[40, 2, 3]], held.images[[40, 2, 3]])
    # saved and loaded again, the images stay on disk and read back the same
    spilled.save(tmp_path / "features.npz")
    loaded = VideoFeatures.load(tmp_path / "features.npz")
    assert not isinstance(loaded.images, np.ndarray) and loaded.images.shape == held.images.shape
    assert np.array_equal(loaded.images[face, 1], held.images[face, 1])
    assert np.array_equal(np.asarray(loaded.images), held.images)
    assert np.array_equal(loaded.motion, held.motion)
