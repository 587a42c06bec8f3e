"""The fan backend on CPU with random-weight files written by the test (no network).

Random weights give meaningless landmarks, but they run face-alignment's real loading code
and our batched path exactly as real weights would.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.processing.extraction import subjects_for_video
from annotator.processing.landmarks.dlib_backend import DlibBackend
from annotator.processing.landmarks.fan_backend import (
    WEIGHT_FILES,
    FanBackend,
    write_random_weights,
)
from annotator.processing.video import iter_frames
from model.errors import InputError

pytestmark = pytest.mark.slow  # FAN-4 runs at about 2 faces/s on CPU


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("torch-home")
    write_random_weights(home / "hub" / "checkpoints")
    return home


@pytest.fixture
def fan(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    torch.manual_seed(0)
    return FanBackend(device="cpu", allow_download=False)


@pytest.fixture(scope="module")
def frames_and_boxes(single_face):
    frames = [frame.rgb for frame in iter_frames(single_face)][:8:7]
    dlib = DlibBackend()
    return frames, [dlib.find_faces(rgb)[0].box for rgb in frames]


def test_weights_load_from_the_torch_hub_folder(fan):
    assert fan.network is fan.library.face_alignment_net
    assert next(fan.network.parameters()).dtype == torch.float32  # fp16 only on CUDA


def test_missing_weights_name_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InputError) as error:
        FanBackend(device="cpu", allow_download=False)
    message = str(error.value)
    assert WEIGHT_FILES["sfd"][0] in message
    assert str(tmp_path / "hub" / "checkpoints") in message


def test_batched_landmarks_equal_one_face_at_a_time(fan, frames_and_boxes):
    frames, boxes = frames_and_boxes
    batched = fan.landmarks_for_boxes(frames, boxes)
    single = np.concatenate(
        [fan.landmarks_for_boxes([f], [b]) for f, b in zip(frames, boxes, strict=True)]
    )
    assert batched.shape == (2, 68, 2)
    assert np.abs(batched - single).max() < 1e-3


def test_batched_landmarks_match_face_alignments_own_path(fan, frames_and_boxes):
    frames, boxes = frames_and_boxes
    ours = fan.landmarks_for_boxes(frames, boxes)
    stock = np.stack([
        fan.library.get_landmarks_from_image(rgb, detected_faces=[np.append(box, 1.0)])[0]
        for rgb, box in zip(frames, boxes, strict=True)
    ])
    distance = np.linalg.norm(ours - stock, axis=-1)
    # Random weights give flat heatmaps, so a few peaks flip on sub-pixel crop differences;
    # the typical point still lands on the library's (which rounds to whole pixels).
    assert np.median(distance) < 1.5


def test_track_with_known_boxes_gives_the_faces_of_each_frame(fan, single_face):
    known = subjects_for_video(single_face, "dlib")
    frames = [frame.rgb for frame in iter_frames(single_face)][:5]
    fan.use_known_boxes(known)
    fan.chunk_size = 3  # two chunks: frame numbering must carry over between them
    results = list(fan.track(frames))
    assert [len(faces) for faces in results] == [1] * 5
    assert all(faces[0].landmarks.shape == (68, 2) for faces in results)
    assert np.allclose([faces[0].box for faces in results], known.box[0, :5])

