"""The model contracts where a coder meets them: each stored pre-fill names the kind of
predictor that made it and the hold it is labelled with; learning (in-video adaptation,
fine-tuning) stops when its progress callback asks, and then stores nothing; landmark backends
are the registry's, by name, on the command line and in errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import db
from annotator.cli import main
from annotator.labelfiles.label_io import import_label_folder
from annotator.learning.adaptation import adapt_subjects, adapt_video
from annotator.learning.finetune_options import FinetuneOptions
from annotator.learning.finetuning import Finetuning, plan_finetune
from annotator.processing.extraction import make_backend
from annotator.processing.landmarks.registry import LANDMARK_BACKENDS, UnknownBackend
from annotator.processing.prediction import process_video
from annotator.services import Services
from model.au_sets import au_names
from model.checkpoint import CheckpointInfo, save_checkpoint
from model.features import FeatureConfig
from model.learners import LearningCancelled, LearnStep
from model.network import AUNetwork, NetworkConfig
from model.predictors import load_predictor

AUS = au_names("abaw2020")
TINY = {"conv_channels": (8, 8, 8, 8), "hidden_size": 16, "embedding_size": 8}


@pytest.fixture
def reviewed_db(tmp_path, demo_video, single_face, eye_labels):
    """The demo clip and single_face processed by the baseline, with their eye labels imported
    as coder "eye"; returns (url, {video name: id})."""
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    ids = {path.stem: process_video(path, Services.open(url)).video_id for path in (demo_video,
                                                                                    single_face)}
    with db.open_database(url).begin() as session:
        import_label_folder(session, eye_labels, "eye")
    return url, ids


def _latest(url, video_id):
    with db.open_database(url).begin() as session:
        run = db.latest_prediction_run(session, video_id)
        return run.id, db.run_parameters(run)


def test_each_stored_prefill_names_its_predictor_kind_and_hold(reviewed_db, tmp_path, single_face):
    url, ids = reviewed_db
    _, baseline = _latest(url, ids["single_face"])
    assert (baseline.predictor, baseline.hold_frames) == ("geometry-baseline", 0)
    assert baseline.details["fusion"] is not None  # the fused baseline says so

    adapt_video(Services.open(url), ids["WolfgangLanger_Pexels"])
    _, adapted = _latest(url, ids["WolfgangLanger_Pexels"])
    assert (adapted.predictor, adapted.hold_frames) == ("adapted", 0)

    config = NetworkConfig(au_set="abaw2020", motion_scale=30.0, **TINY)
    torch.manual_seed(0)
    info = CheckpointInfo(config, np.full(config.num_aus, 0.5, np.float32), 3, "dlib",
                          feature_key=FeatureConfig().key(), hold_frames=4)
    checkpoint = save_checkpoint(tmp_path / "model.safetensors", AUNetwork(config).eval(), info)
    run_id = process_video(single_face, Services.open(url), model=checkpoint).run_id
    _, network = _latest(url, ids["single_face"])
    assert _latest(url, ids["single_face"])[0] == run_id
    assert (network.predictor, network.hold_frames, network.smoothing_window) == ("network", 4, 3)


def test_adaptation_stopped_by_its_progress_stores_no_run(reviewed_db):
    url, ids = reviewed_db
    video_id = ids["WolfgangLanger_Pexels"]
    before = _latest(url, video_id)[0]
    stages: list[str] = []

    def stop_at_au12(step: LearnStep) -> bool:
        stages.append(step.stage)
        return step.stage == "learning AU12"

    with pytest.raises(LearningCancelled):
        adapt_subjects(db.Store(url), video_id, progress=stop_at_au12)

    assert stages == [f"learning {au}" for au in AUS[: AUS.index("AU12") + 1]]
    assert _latest(url, video_id)[0] == before


def test_finetuning_stopped_by_its_progress_stores_no_version(reviewed_db, tmp_path):
    url, ids = reviewed_db
    options = FinetuneOptions(held_out=(ids["single_face"],), network=TINY, epochs=1)
    with db.open_database(url).begin() as session:
        plan = plan_finetune(session, options)
    stages: list[str] = []

    def stop(step: LearnStep) -> bool:
        stages.append(step.stage)
        return True

    work = tmp_path / "work"
    with pytest.raises(LearningCancelled):
        Finetuning(options, work).fit(plan, load_predictor(None), stop)

    assert stages[0].startswith("distilling the geometry + expression baseline")
    assert not work.exists() or not any(work.iterdir())
    with db.open_database(url).begin() as session:
        assert db.list_model_versions(session) == []


def test_an_unknown_landmark_backend_is_one_line_naming_the_registered_ones():
    with pytest.raises(UnknownBackend) as error:
        make_backend("openface")
    message = str(error.value)
    assert "\n" not in message and "'openface'" in message
    assert all(name in message for name in LANDMARK_BACKENDS)


def test_the_command_line_offers_exactly_the_registered_backends(capsys):
    offered = "--backend {" + ",".join(LANDMARK_BACKENDS) + "}"
    for command in ("process", "predict", "bench", "train"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert offered in capsys.readouterr().out, command
    with pytest.raises(SystemExit):
        main(["process", "clip.mp4", "--backend", "openface"])
    assert "choose from dlib, fan" in capsys.readouterr().err.replace("'", "")


def test_each_registered_backend_is_made_by_its_name():
    assert make_backend("dlib").name == "dlib" == LANDMARK_BACKENDS["dlib"].name
