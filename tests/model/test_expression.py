"""The expression network rebuilt in torch: it reproduces the converted Keras model's outputs,
reads real faces sensibly, and samples and interpolates frames as the pipeline uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.expression import (
    EXPRESSIONS,
    ONNX_FILE,
    WEIGHTS_FILE,
    _torch_forward,
    classify,
    expression_probabilities,
    network_input,
    sampled_frames,
    sampling_stride,
    spread,
)

REFERENCE = Path(__file__).parents[1] / "data" / "expression_reference.npz"


def test_the_expression_probabilities_reproduce_the_keras_reference_outputs():
    """Reference: an independent NumPy forward pass of the hdf5's Keras graph, recorded by
    scripts/convert_expression_weights.py for aligned crops of the bundled clips."""
    reference = np.load(REFERENCE)
    crops = reference["crops"]
    probabilities = expression_probabilities(crops, np.ones(len(crops), bool))
    np.testing.assert_allclose(probabilities, reference["probabilities"], atol=1e-4)


def test_the_reference_faces_read_as_a_person_would_read_them():
    # single_face: neutral start, broad smile; demo: crying, hand over mouth, laughing twice
    probabilities = np.load(REFERENCE)["probabilities"]
    named = [EXPRESSIONS[k] for k in probabilities.argmax(axis=1)]
    assert named[0] == "neutral" and named[1] == "happy"
    assert named[2] == "sad" and named[4:] == ["happy", "happy"]


def test_the_converted_weights_file_is_small():
    assert WEIGHTS_FILE.stat().st_size < 1_000_000


def test_frames_without_a_face_get_nan_rows_and_are_never_read():
    crops = np.load(REFERENCE)["crops"]
    face = np.array([True, False, True, False, False, True])

    class Reads:
        asked: list[int] = []

        def __getitem__(self, frames):
            Reads.asked += list(frames)
            return crops[frames]

    probabilities = expression_probabilities(Reads(), face)
    assert np.isnan(probabilities[~face]).all() and np.isfinite(probabilities[face]).all()
    assert sorted(Reads.asked) == [0, 2, 5]
    np.testing.assert_allclose(probabilities[face].sum(axis=1), 1.0, atol=1e-5)


def test_sampling_takes_about_twelve_frames_a_second_and_always_the_last_face():
    assert sampling_stride(24) == 2 and sampling_stride(30) == 2 and sampling_stride(60) == 5
    assert sampling_stride(10) == 1
    face = np.array([False, True, True, True, True, True, False])
    assert sampled_frames(face, 2).tolist() == [1, 3, 5]
    assert sampled_frames(face, 3).tolist() == [1, 4, 5]


def test_frames_between_samples_are_interpolated_and_no_face_stays_nan():
    face = np.array([True, True, True, False, True])
    samples = np.zeros((2, 7), np.float32)
    samples[0, 3], samples[1, 3] = 0.2, 1.0  # happy rises from frame 0 to frame 4
    spread_out = spread(np.array([0, 4]), samples, face)
    np.testing.assert_allclose(spread_out[[0, 1, 2, 4], 3], [0.2, 0.4, 0.6, 1.0], atol=1e-6)
    assert np.isnan(spread_out[3]).all()


def test_the_onnx_export_opencv_runs_on_the_cpu_gives_the_same_outputs():
    reference = np.load(REFERENCE)
    np.testing.assert_allclose(classify(reference["crops"], "cpu"), reference["probabilities"],
                               atol=1e-4)
    assert ONNX_FILE.stat().st_size < 1_000_000


def test_the_torch_module_gives_the_same_outputs_where_cuda_would_run_it():
    """The CUDA path is the torch module; on a machine without CUDA it runs on the CPU."""
    reference = np.load(REFERENCE)
    inputs = network_input(reference["crops"])
    np.testing.assert_allclose(_torch_forward(inputs, "cpu"), reference["probabilities"],
                               atol=1e-4)
