"""The cold-start pre-fill on real clips: expression evidence cached with the features and
recorded with the run, the demo clip's laugh and frown found, and the `queue` command."""

from __future__ import annotations

import numpy as np
import pytest

import db
from annotator.cli import main
from annotator.processing.extraction import expression_path, features_for_video
from annotator.processing.prediction import process_video
from annotator.services import Services, actions
from model.affwild2_files import read_label_file
from model.au_sets import NOT_CODED, au_names
from model.expression import EXPRESSIONS
from model.features import FeatureConfig
from model.smoothing import prefill_labels

AUS = au_names("abaw2020")


def test_processing_caches_each_frames_expression_beside_the_features(single_face):
    features = features_for_video(single_face)
    cached = np.load(expression_path(single_face, "dlib", FeatureConfig()))
    assert cached.shape == (72, len(EXPRESSIONS))
    np.testing.assert_array_equal(features.expression, cached)
    happy = cached[:, EXPRESSIONS.index("happy")]
    assert happy[:12].max() < 0.3 and happy[30:66].min() > 0.8  # neutral, then a broad smile


def test_a_run_records_the_fusion_table_it_used(tmp_path, single_face):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    video_id = process_video(single_face, Services.open(url)).video_id
    with db.open_database(url).begin() as session:
        details = db.run_parameters(db.latest_prediction_run(session, video_id)).details
    assert details["fusion"]["prototypes"]["happy"]["AU12"] == 1.0


@pytest.fixture(scope="module")
def demo_processed(tmp_path_factory, demo_video):
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'a.sqlite3'}"
    return url, process_video(demo_video, Services.open(url)).video_id


def test_the_demo_pre_fill_sees_the_frown_and_the_laugh(demo_processed, eye_labels):
    url, video_id = demo_processed
    truth = read_label_file(eye_labels / "WolfgangLanger_Pexels.txt").labels
    state = actions.review_state(Services.open(url), video_id, "nobody")
    for au in ("AU4", "AU6", "AU12", "AU25"):
        k = AUS.index(au)
        judged = truth[:, k] != NOT_CODED
        assert (state.labels[judged, k] == truth[judged, k]).mean() >= 0.9, au


def test_queue_prints_one_stretch_a_line_best_first(demo_processed, capsys):
    url, video_id = demo_processed
    assert main(["queue", "--video", "WolfgangLanger_Pexels", "--limit", "5", "--db", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 1 <= len(lines) <= 5
    scores = []
    for line in lines:
        au, first, last, score, reason = line.split(" ", 4)
        assert au in AUS and 0 <= int(first) <= int(last) < 472 and reason
        scores.append(float(score))
    assert scores == sorted(scores, reverse=True)
    items = actions.video_queue(Services.open(url), video_id, None, limit=5)
    assert [f"{i.au} {i.first_frame} {i.last_frame}" for i in items] == \
        [" ".join(line.split(" ")[:3]) for line in lines]  # the app's queue, the same


def test_queue_names_a_missing_video_or_subject_in_one_line(demo_processed, capsys):
    url, _ = demo_processed
    assert main(["queue", "--video", "nothing", "--db", url]) == 2
    assert capsys.readouterr().err.strip() == (
        "au-annotator queue: error: no registered videos match 'nothing'")
    assert main(["queue", "--video", "WolfgangLanger_Pexels", "--subject", "9", "--db", url]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("au-annotator queue: error: ") and "no subject 9" in error
    assert "\n" not in error


def test_a_reviewed_stretch_leaves_the_queue(tmp_path, demo_video, capsys):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    video_id = process_video(demo_video, Services.open(url)).video_id
    first = actions.video_queue(Services.open(url), video_id, "ann", limit=1)[0]
    actions.set_label(Services.open(url), video_id, "ann", (first.au,), first.first_frame,
                      first.last_frame, 0)
    after = actions.video_queue(Services.open(url), video_id, "ann", limit=50)
    assert all(not (i.au == first.au and first.first_frame <= i.first_frame <= first.last_frame)
               for i in after)


def test_short_stretches_come_only_when_nothing_else_is_left():
    frames = 100
    face = np.ones(frames, bool)
    prefill = np.zeros((frames, 1), np.int8)
    smoothed = np.full((frames, 1), 0.05, np.float32)
    smoothed[10:13] = 0.5  # 3 frames at the threshold: flicker at 25 fps
    state = actions.ReviewState(("AU12",), prefill, np.zeros((frames, 1), bool), prefill, face,
                                1, np.array([0.5], np.float32), 1)
    only_short = actions.review_queue(state, smoothed, None, 25.0)
    assert [(i.first_frame, i.last_frame) for i in only_short] == [(10, 12)]
    smoothed[50:75] = 0.45  # a second of doubt
    both = actions.review_queue(state, smoothed, None, 25.0)
    assert [(i.first_frame, i.last_frame) for i in both] == [(50, 74)]


def test_a_stretch_the_sources_dispute_comes_before_an_equally_doubtful_one():
    frames = 100
    face = np.ones(frames, bool)
    prefill = np.zeros((frames, 1), np.int8)
    smoothed = np.full((frames, 1), 0.05, np.float32)
    smoothed[10:30] = 0.35
    smoothed[60:80] = 0.35
    geometry = prefill.copy()
    geometry[60:80] = 1  # geometry alone says present there
    state = actions.ReviewState(("AU12",), prefill, np.zeros((frames, 1), bool), prefill, face,
                                1, np.array([0.5], np.float32), 1)
    items = actions.review_queue(state, smoothed, None, 25.0, {"geometry alone": geometry})
    assert [(i.first_frame, i.reason) for i in items] == [
        (60, "geometry alone says present"), (10, "probability near the threshold (0.35 vs 0.50)")]


def test_prefill_labels_of_fused_and_geometry_differ_where_expression_speaks():
    """Sanity for the sources: the fused pre-fill is not geometry relabelled."""
    probabilities = np.array([[0.2], [0.8]], np.float32)
    assert prefill_labels(probabilities, 0.5, 1)[:, 0].tolist() == [0, 1]
