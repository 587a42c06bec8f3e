"""`au-annotator adapt` and annotator.learning.adaptation on the demo clip: what is learnt is
stored as a new prediction run, the coder's labels stay, adapting again starts from the prior, and
old adapted runs do not pile up."""

from __future__ import annotations

import numpy as np
import pytest

import db
from annotator.cli import main
from annotator.labelfiles.label_io import import_label_folder
from annotator.learning.adaptation import AdaptationError, adapt_video
from annotator.processing.prediction import process_video
from annotator.services import Services
from db.videos import KEEP_ADAPTED_RUNS
from model.affwild2_files import read_label_file, write_label_file
from model.au_sets import NOT_CODED, au_names

AUS = au_names("abaw2020")


@pytest.fixture
def demo_db(tmp_path, demo_video, eye_labels):
    """The demo clip processed, with the eye labels of its even 2-second stretches imported as
    coder "eye"; returns (url, video id, the imported labels)."""
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    video_id = process_video(demo_video, Services.open(url)).video_id
    truth = read_label_file(eye_labels / "WolfgangLanger_Pexels.txt").labels
    even = (np.arange(len(truth)) // 50) % 2 == 0
    coded = np.where(even[:, None], truth, NOT_CODED).astype(np.int8)
    write_label_file(tmp_path / "labels" / "WolfgangLanger_Pexels.txt", AUS, coded)
    with db.open_database(url).begin() as session:
        import_label_folder(session, tmp_path / "labels", "eye")
    return url, video_id, coded


def _latest(url, video_id):
    with db.open_database(url).begin() as session:
        run = db.latest_prediction_run(session, video_id)
        return run.id, db.run_parameters(run)


def _labels(url, video_id):
    with db.open_database(url).begin() as session:
        return db.effective_labels(session, db.get_video(session, video_id), "eye")


def test_adapt_prints_each_au_and_stores_a_run_that_keeps_the_labels(demo_db, capsys):
    url, video_id, coded = demo_db
    prior_id, _ = _latest(url, video_id)

    assert main(["adapt", "--video", "WolfgangLanger_Pexels", "--db", url]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "subject 1:"
    assert [line.split()[0] for line in out[1:9]] == list(AUS)
    au12 = next(line for line in out if line.startswith("AU12"))
    reviewed = int((coded[:, AUS.index("AU12")] != NOT_CODED).sum())
    assert f"reviewed {reviewed:6} frames" in au12 and "cross-validated on" in au12
    assert out[1 + AUS.index("AU1")].endswith("no reviewed frames of this AU in this video")
    run_id, parameters = _latest(url, video_id)
    learnt = out[-1].removeprefix(f"stored run {run_id}: ").split(" learnt")[0].split(", ")
    assert out[-1].startswith(f"stored run {run_id}: ") and learnt
    assert parameters.predictor == "adapted" and parameters.details["prior_run"] == prior_id
    assert all(parameters.thresholds[au] == 0.5 for au in learnt)  # learnt AUs cut at 0.5
    labels = _labels(url, video_id)
    reviewed = coded != NOT_CODED
    assert np.array_equal(labels.reviewed, reviewed)
    assert np.array_equal(labels.labels[reviewed], coded[reviewed])


def test_adapting_after_every_correction_is_undone_returns_to_the_prior(demo_db):
    url, video_id, _ = demo_db
    prior_id, prior = _latest(url, video_id)
    adapt_video(Services.open(url), video_id)
    assert _latest(url, video_id)[1].predictor == "adapted"
    with db.open_database(url).begin() as session:
        assert db.undo(session, db.get_video(session, video_id), "eye") is not None

    result = adapt_video(Services.open(url), video_id)

    assert not result.adapted_aus and result.subjects[0].prior_run_id == prior_id
    run_id, parameters = _latest(url, video_id)
    assert parameters == prior and run_id != prior_id  # the prior's pre-fill, stored anew
    with db.open_database(url).begin() as session:
        now = db.run_probabilities(db.get_prediction_run(session, run_id))
        before = db.run_probabilities(db.get_prediction_run(session, prior_id))
    assert np.array_equal(now, before, equal_nan=True)


def test_old_adapted_runs_are_pruned_and_the_prior_is_kept(demo_db):
    url, video_id, _ = demo_db
    prior_id, _ = _latest(url, video_id)
    for _ in range(5):
        adapt_video(Services.open(url), video_id)
    with db.open_database(url).begin() as session:
        kinds = [db.run_parameters(db.get_prediction_run(session, run_id)).predictor
                 for run_id in _run_ids(session, video_id)]
        assert db.get_prediction_run(session, prior_id) is not None
    assert kinds.count("adapted") == KEEP_ADAPTED_RUNS


def _run_ids(session, video_id):
    return [run.id for run in session.query(db.PredictionRun).filter_by(video_id=video_id)]


def test_adapt_names_what_is_missing(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert main(["adapt", "--video", "nothing", "--db", url]) == 2
    assert capsys.readouterr().err.strip() == (
        "au-annotator adapt: error: no registered videos match 'nothing'")
    with pytest.raises(AdaptationError, match="no video 7"):
        adapt_video(Services.open(url), 7)
