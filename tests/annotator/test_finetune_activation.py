"""Activating a model version re-runs the pre-fill only where frames are unreviewed, never
touches corrections, and rolling back restores the parent's (here the baseline's) pre-fill."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.finetuning import (
    CODER,
    database_with_corrections,
    register_network,
    store_snapshot,
    synthetic_dataset,
    video_ids,
)
from sqlalchemy import select

import db
from annotator.learning.finetune_options import FinetuneError
from annotator.learning.model_versions import ActivationRefused, activate_version, rollback
from annotator.services import Services

pytestmark = pytest.mark.slow  # fine-tunes on the synthetic set


@pytest.fixture
def store(tmp_path, demo_video):
    """Clip 0 fully imported (every frame reviewed); clip 1 with a few corrected stretches."""
    dataset = synthetic_dataset(demo_video)
    names = sorted(p.stem for p in (dataset / "videos").glob("*.mp4"))
    url = database_with_corrections(tmp_path, dataset, corrected=[names[0]])
    partial = video_ids(url)[names[1]]
    with db.open_database(url).begin() as session:
        video = db.get_video(session, partial)
        db.correct(session, video, CODER, "AU12", 5, 14, 1)
        db.correct(session, video, CODER, "AU25", 20, 29, 0)
    return url, video_ids(url)[names[0]], partial


def _view(url, video_id):
    with db.open_database(url).begin() as session:
        return db.effective_labels(session, db.get_video(session, video_id), CODER)


def test_activation_refreshes_unreviewed_frames_only_and_keeps_every_correction(store, tmp_path):
    url, full, partial = store
    before = {video_id: _view(url, video_id) for video_id in (full, partial)}
    counts = store_snapshot(url, tmp_path / "models")
    version = register_network(url, tmp_path, thresholds=0.0, activate=False)  # "all present"

    result = activate_version(Services.open(url), version)

    assert result.refreshed_videos == sorted(set(video_ids(url).values()) - {full})
    assert result.kept_videos == [full]  # every frame reviewed: its run is left alone
    after = _view(url, partial)
    reviewed = before[partial].reviewed
    assert after.reviewed.tolist() == reviewed.tolist()
    assert np.array_equal(after.labels[reviewed], before[partial].labels[reviewed])
    face = after.face
    unreviewed_faces = ~reviewed & face[:, None]
    assert (after.labels[unreviewed_faces] == 1).all()  # the new version's pre-fill
    assert (before[partial].labels[unreviewed_faces] == 0).any()  # ...which changed them
    assert np.array_equal(_view(url, full).labels, before[full].labels)
    now = store_snapshot(url, tmp_path / "models")
    assert (now["Edit"], now["Correction"]) == (counts["Edit"], counts["Correction"])
    assert now["active"] == version


def test_rollback_to_the_baseline_restores_the_original_prefill(store, tmp_path):
    url, _, partial = store
    before = _view(url, partial)
    activate_version(Services.open(url), register_network(url, tmp_path, thresholds=0.0,
                                                          activate=False))

    result = rollback(Services.open(url))

    assert result.version_id is None
    with db.open_database(url).begin() as session:
        assert db.active_model_version(session) is None
        run = db.latest_prediction_run(session, partial)
        assert (run.model_version_id, run.parameters["predictor"]) == (None, "geometry-baseline")
    assert np.array_equal(_view(url, partial).labels, before.labels)
    with pytest.raises(FinetuneError, match="nothing to roll back"):
        rollback(Services.open(url))


def test_rollback_goes_to_the_parent_version(store, tmp_path):
    url, _, partial = store
    parent = register_network(url, tmp_path, thresholds=0.0, activate=True)
    with db.open_database(url).begin() as session:
        path = db.active_model_version(session).path
        child = db.add_model_version(session, path, "abaw2020", {}, parent_id=parent).id
    activate_version(Services.open(url), child)

    assert rollback(Services.open(url)).version_id == parent
    with db.open_database(url).begin() as session:
        assert db.active_model_version(session).id == parent
        runs = session.scalars(select(db.PredictionRun.model_version_id)
                               .where(db.PredictionRun.video_id == partial)
                               .order_by(db.PredictionRun.id)).all()
    assert runs == [None, child, parent]


def _scored_version(url, tmp_path, new: float, parent: float) -> int:
    """A registered version whose held-out comparison reads `new` against its parent."""
    version = register_network(url, tmp_path, activate=False)
    with db.open_database(url).begin() as session:
        row = db.get_model_version(session, version)
        row.metrics = {"metric": "abaw2020", "new": {"score": new},
                       "parent": {"score": parent, "predictor": "geometry baseline"}}
    return version


def test_a_version_scoring_below_its_parent_is_refused_unless_forced(store, tmp_path):
    url, _, _ = store
    weaker = _scored_version(url, tmp_path, new=0.41, parent=0.52)
    counts = store_snapshot(url, tmp_path / "models")
    with pytest.raises(ActivationRefused, match=r"scores 0.410 .* below its parent .* 0.520"):
        activate_version(Services.open(url), weaker)
    assert store_snapshot(url, tmp_path / "models") == counts  # nothing changed

    assert activate_version(Services.open(url), weaker, force=True).version_id == weaker
    with db.open_database(url).begin() as session:
        assert db.active_model_version(session).id == weaker


def test_a_version_as_good_as_its_parent_activates(store, tmp_path):
    url, _, _ = store
    equal = _scored_version(url, tmp_path, new=0.52, parent=0.52)
    assert activate_version(Services.open(url), equal).version_id == equal
