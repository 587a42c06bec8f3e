"""The 68-point fit of annotator.processing.landmarks.regression_trees gives dlib's landmarks,
runs beside other threads, and names a model file it cannot read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import dlib
import numpy as np
import pytest

from annotator.processing.landmarks import regression_trees
from annotator.processing.landmarks.dlib_backend import (
    DlibBackend,
    DlibPredictor,
    predictor_path,
    shape_model,
)
from annotator.processing.video import iter_frames


def _faces(path, every: int = 1) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """(gray frame, detected box) of every face of every `every`-th frame of a clip."""
    detector = dlib.get_frontal_face_detector()
    found = []
    for number, frame in enumerate(iter_frames(path)):
        if number % every == 0:
            gray = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)
            found += [(gray, (r.left(), r.top(), r.right(), r.bottom()))
                      for r in detector(gray, 0)]
    return found


@pytest.fixture(scope="module")
def faces(single_face, demo_video):
    return _faces(single_face) + _faces(demo_video, every=6)


def test_landmarks_are_dlibs_on_every_face_of_the_clips(faces):
    assert len(faces) > 140
    model, dlib_predictor = shape_model(), DlibPredictor()
    for gray, box in faces:
        ours = model.fit(gray, box)
        assert ours.shape == (68, 2) and ours.dtype == np.float32
        np.testing.assert_array_equal(ours, dlib_predictor.fit(gray, box))


def test_a_box_partly_outside_the_frame_gets_dlibs_landmarks(faces):
    """Feature pixels outside the picture read as black, in dlib and here."""
    model, dlib_predictor = shape_model(), DlibPredictor()
    gray, (left, top, right, bottom) = faces[0]
    for dx, dy in ((-left - 40, 0), (0, -top - 30), (gray.shape[1] - right + 25, 0)):
        box = (left + dx, top + dy, right + dx, bottom + dy)
        np.testing.assert_array_equal(model.fit(gray, box), dlib_predictor.fit(gray, box))


def test_fits_from_several_threads_at_once_are_the_fits_one_at_a_time(faces):
    model = shape_model()
    alone = [model.fit(gray, box) for gray, box in faces[:60]]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda face: model.fit(*face), faces[:60]))
    for one, other in zip(alone, together, strict=True):
        np.testing.assert_array_equal(one, other)


def test_an_empty_or_colour_frame_is_refused_with_a_reason():
    model = shape_model()
    with pytest.raises(ValueError, match="empty frame"):
        model.fit(np.zeros((0, 640), np.uint8), (10, 10, 100, 100))
    with pytest.raises(ValueError, match="gray frame"):
        model.fit(np.zeros((360, 640, 3), np.uint8), (10, 10, 100, 100))


def test_the_model_is_read_once_a_process_with_the_compiled_fit():
    assert regression_trees.available()
    model = shape_model()
    assert isinstance(model, regression_trees.ShapeModel) and model is shape_model()
    assert model.points == 68 and model.leaves.shape == (15, 500, 16, 136)


def test_without_the_compiled_fit_dlib_fits_and_the_log_says_so(faces, monkeypatch, caplog):
    monkeypatch.setattr(regression_trees, "_regression_trees", None)
    shape_model.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            fallback = shape_model()
        assert isinstance(fallback, DlibPredictor)
        assert "compiled 68-point fit was not built" in caplog.text
        gray, box = faces[0]
        np.testing.assert_array_equal(DlibBackend(model=fallback).fit(gray, np.array(box)),
                                      DlibPredictor().fit(gray, box))
    finally:
        shape_model.cache_clear()


@pytest.mark.parametrize("damage", ["truncated", "not a model"])
def test_a_damaged_model_file_is_named_with_its_problem(tmp_path, damage):
    data = predictor_path().read_bytes()
    broken = tmp_path / "shape_predictor_68_face_landmarks.dat"
    junk = b"\x01" + bytes(range(256)) * 40
    broken.write_bytes(data[:len(data) // 2] if damage == "truncated" else junk)
    with pytest.raises(regression_trees.ModelFileError) as raised:
        regression_trees.read(broken)
    message = str(raised.value)
    assert str(broken) in message and "not a dlib shape predictor" in message
    assert "\n" not in message
