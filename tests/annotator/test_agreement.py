"""Per-AU Cohen's kappa and F1 between coders, or a coder and the model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import db
from annotator.services.actions import coder_agreement
from model.au_sets import au_names
from model.metrics import label_agreement


def test_kappa_and_f1_match_hand_computed_values():
    # 10 frames: both 1 on 4, first only on 1, second only on 1, both 0 on 4
    first = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])[:, None]
    second = np.array([1, 1, 1, 1, 0, 1, 0, 0, 0, 0])[:, None]
    result = label_agreement(("AU1",), first, second)
    # observed 0.8, chance 0.5*0.5 + 0.5*0.5 = 0.5 → kappa 0.6; F1 = 8 / (8 + 1 + 1)
    assert result.kappa[0] == pytest.approx(0.6)
    assert result.f1[0] == pytest.approx(0.8)
    assert result.frames[0] == 10


def test_frames_either_side_left_unlabelled_do_not_count():
    first = np.array([[1], [0], [-1], [1]])
    second = np.array([[1], [0], [0], [-1]])
    result = label_agreement(("AU1",), first, second)
    assert result.frames[0] == 2 and result.kappa[0] == pytest.approx(1.0)


def test_kappa_is_undefined_when_both_always_say_the_same_single_value():
    result = label_agreement(("AU1", "AU2"), np.zeros((5, 2)), np.zeros((5, 2)))
    assert np.isnan(result.kappa).all() and (result.frames == 5).all()


def test_coders_are_compared_only_on_frames_both_reviewed(tmp_path):
    sessions = db.open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    probabilities = np.zeros((100, 8), np.float32)
    probabilities[:50, 0] = 0.9  # the model says AU1 on frames 0..49
    with sessions.begin() as session:
        video = db.register_video(
            session,
            content_hash=hashlib.sha256(b"v").hexdigest(),
            path="/v/clip.mp4",
            fps=30,
            frame_count=100,
            width=64,
            height=64,
        )
        parameters = db.PredictionParameters(
            "abaw2020", dict.fromkeys(au_names("abaw2020"), 0.5), 1
        )
        db.store_prediction_run(session, video, probabilities, parameters)
        db.correct(session, video, "alice", "AU1", 0, 59, 1)
        db.correct(session, video, "bob", "AU1", 20, 79, 1)
        coders = coder_agreement(session, [video], "alice", "bob", "abaw2020")
        with_model = coder_agreement(session, [video], "alice", None, "abaw2020")
    assert coders.frames[0] == 40 and coders.f1[0] == pytest.approx(1.0)
    assert coders.frames[1] == 0 and np.isnan(coders.kappa[1])
    # alice vs model on alice's 60 frames: agree on 0..49 (1), disagree on 50..59
    assert with_model.frames[0] == 60
    assert with_model.f1[0] == pytest.approx(2 * 50 / (2 * 50 + 10))
