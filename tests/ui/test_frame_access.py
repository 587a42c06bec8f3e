"""Random access to frames gives exactly the frames `iter_frames` decodes, in any order."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.processing.video import FrameReader, iter_frames


@pytest.fixture(scope="module")
def decoded(single_face):
    return list(iter_frames(single_face))


@pytest.fixture
def reader(single_face, decoded):
    return FrameReader(single_face, np.array([frame.time for frame in decoded]))


def test_random_frames_match_sequential_decoding(reader, decoded):
    order = np.random.default_rng(3).permutation(len(decoded))[:20]
    for index in [*order, len(decoded) - 1, 0]:
        frame = reader.frame(int(index))
        assert frame.index == index
        assert np.array_equal(frame.rgb, decoded[index].rgb), f"frame {index} differs"


def test_stepping_back_and_forth_matches(reader, decoded):
    for index in (30, 31, 30, 29, 40, 39, 71, 70):
        assert np.array_equal(reader.frame(index).rgb, decoded[index].rgb), f"frame {index}"


def test_a_frame_outside_the_video_is_an_index_error(reader, decoded):
    with pytest.raises(IndexError, match=f"frame {len(decoded)} outside"):
        reader.frame(len(decoded))

