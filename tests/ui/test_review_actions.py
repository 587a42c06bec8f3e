"""Review actions as the app stores them: pre-fill settings, agreement with the model."""

from __future__ import annotations

import numpy as np
import pytest

import db
from annotator.services import Services, actions
from model.au_sets import au_names

AUS = au_names("abaw2020")


@pytest.fixture
def video(tmp_path) -> tuple[str, int]:
    """A 6-frame video whose AU1 probability rises 0.1 … 0.6 (others 0), one stored run."""
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    probabilities = np.zeros((6, len(AUS)), np.float32)
    probabilities[:, 0] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    with db.open_database(url).begin() as session:
        row = db.register_video(session, content_hash="d" * 64, path="/v/clip.mp4", fps=30.0,
                                frame_count=6, width=64, height=48)
        parameters = db.PredictionParameters("abaw2020", dict.fromkeys(AUS, 0.5), 1)
        db.store_prediction_run(session, row, probabilities, parameters)
        return url, row.id


def au1(url: str, video_id: int, coder: str = "ann") -> list[int]:
    return actions.review_state(Services.open(url), video_id, coder).labels[:, 0].tolist()


def test_a_new_threshold_is_stored_as_the_prefill_that_exports(video):
    url, video_id = video
    assert au1(url, video_id) == [0, 0, 0, 0, 1, 1]
    assert actions.set_prefill_parameters(Services.open(url), video_id, "ann", 1, {"AU1": 0.25})
    assert au1(url, video_id) == [0, 0, 1, 1, 1, 1]
    (name, content), = actions.export_files(Services.open(url), video_id, "ann", "affwild2")
    assert name == "clip.txt"
    assert [line.split(",")[0] for line in content.decode().splitlines()[1:]] == [
        "0", "0", "1", "1", "1", "1"]


def test_one_coders_settings_leave_another_coders_prefill_alone(video):
    url, video_id = video
    actions.set_prefill_parameters(Services.open(url), video_id, "ann", 1, {"AU1": 0.25})
    assert au1(url, video_id, "bob") == [0, 0, 0, 0, 1, 1]
    assert actions.review_state(Services.open(url), video_id, "bob").thresholds[0] == 0.5
    assert actions.review_state(Services.open(url), video_id,
                                "ann").thresholds[0] == pytest.approx(0.25)


def test_unchanged_settings_store_nothing(video):
    url, video_id = video
    assert not actions.set_prefill_parameters(Services.open(url), video_id, "ann", 1, {"AU1": 0.5})


def test_accepted_frames_keep_their_values_when_the_threshold_changes(video):
    url, video_id = video
    assert actions.accept_prefill(Services.open(url), video_id, "ann", ("AU1",), 0, 2)
    actions.set_prefill_parameters(Services.open(url), video_id, "ann", 1, {"AU1": 0.05})
    assert au1(url, video_id) == [0, 0, 0, 1, 1, 1]


def test_agreement_with_the_model_counts_only_reviewed_frames(video):
    url, video_id = video
    # model: 0, 1, 1 there
    actions.set_label(Services.open(url), video_id, "ann", ("AU1",), 3, 5, 1)
    table = actions.agreement_table(Services.open(url), video_id, "ann", actions.MODEL)
    assert table.loc["AU1", "frames"] == 3
    assert table.loc["AU1", "f1"] == pytest.approx(0.8)
