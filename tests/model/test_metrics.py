"""ABAW metrics on small cases worked out by hand (-1 truth skipped, -1 predictions absent)."""

import numpy as np
import pytest

from model.metrics import au_scores, confusion_counts, f1_from_counts

# 4 frames × 2 AUs. AU1: frame 4 unannotated → frames 1-3 give TP, FN, FP.
# AU2: frame 2 unannotated → frames 1, 3, 4 give TN, TP, FN.
TRUTH = np.array([[1, 0], [1, -1], [0, 1], [-1, 1]])
PREDICTED = np.array([[1, 0], [0, 1], [1, 1], [1, 0]])


def test_confusion_counts_skip_unannotated_frames():
    counts = confusion_counts(TRUTH, PREDICTED)
    # columns: TP, FP, FN, TN
    assert counts.tolist() == [[1, 1, 1, 0], [1, 0, 1, 1]]


def test_minus_one_predictions_count_as_absent_and_minus_one_truth_is_skipped():
    # As the challenge's scorer reads a submission: a -1 prediction (no face) is "absent".
    truth = np.array([[1, 0], [0, -1], [1, 1], [-1, 0]])
    predicted = np.array([[-1, 0], [-1, 1], [1, -1], [-1, -1]])
    scores = au_scores(truth, predicted)
    # AU1: frame 1 FN (1 vs absent), 2 TN (0 vs absent), 3 TP, 4 skipped → F1 2/(2+0+1) = 2/3
    # AU2: frame 1 TN, 2 skipped, 3 FN (1 vs absent), 4 TN (0 vs absent) → F1 0
    assert scores.per_au_f1 == pytest.approx([2 / 3, 0.0])
    assert scores.counts.tolist() == [[1, 0, 1, 1], [0, 0, 1, 2]]
    assert scores.accuracy == pytest.approx(4 / 6)  # no pair with a -1 prediction is dropped
    assert scores.abaw2020 == pytest.approx(0.5 * (1 / 3) + 0.5 * (4 / 6))


def test_per_au_f1_by_hand():
    scores = au_scores(TRUTH, PREDICTED)
    # AU1: 2·1 / (2·1 + 1 + 1) = 0.5; AU2: 2·1 / (2·1 + 0 + 1) = 2/3
    assert scores.per_au_f1 == pytest.approx([0.5, 2 / 3])


def test_total_accuracy_counts_every_annotated_pair():
    # correct pairs: AU1 1 of 3, AU2 2 of 3 → 3 / 6
    assert au_scores(TRUTH, PREDICTED).accuracy == pytest.approx(0.5)


def test_accuracy_is_pooled_not_averaged_per_au():
    # AU1: 1 annotated pair, correct; AU2: 3 annotated pairs, all wrong → pooled 1/4, not 0.5
    truth = np.array([[1, 1], [-1, 1], [-1, 1]])
    predicted = np.array([[1, 0], [0, 0], [0, 0]])
    assert au_scores(truth, predicted).accuracy == pytest.approx(0.25)


def test_abaw2020_score_is_half_mean_f1_plus_half_accuracy():
    scores = au_scores(TRUTH, PREDICTED)
    mean_f1 = (0.5 + 2 / 3) / 2
    assert scores.mean_f1 == pytest.approx(mean_f1)
    assert scores.abaw2020 == pytest.approx(0.5 * mean_f1 + 0.5 * 0.5)  # 0.541666...


def test_au_without_positives_has_f1_zero_but_counts_for_accuracy():
    truth = np.array([[0, 1], [0, 0]])
    predicted = np.array([[0, 1], [0, 0]])
    scores = au_scores(truth, predicted)
    assert scores.per_au_f1.tolist() == [0.0, 1.0]
    assert scores.accuracy == 1.0
    assert scores.abaw2020 == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)


def test_twelve_au_mean_f1_by_hand():
    # 4 frames; AU k is present in frames 1-2. Predictions:
    # AUs 1-3 exact (F1 1); AUs 4-6 only frame 1 (TP 1, FN 1 → 2/3); AUs 7-12 never (F1 0).
    truth = np.zeros((4, 12), dtype=int)
    truth[:2] = 1
    predicted = np.zeros((4, 12), dtype=int)
    predicted[:2, :3] = 1
    predicted[0, 3:6] = 1
    scores = au_scores(truth, predicted)
    assert scores.per_au_f1[:6] == pytest.approx([1, 1, 1, 2 / 3, 2 / 3, 2 / 3])
    assert scores.mean_f1 == pytest.approx((3 + 2) / 12)


def test_all_unannotated_au_scores_zero_and_adds_no_pairs():
    truth = np.array([[1, -1], [0, -1]])
    predicted = np.array([[1, 1], [0, 1]])
    scores = au_scores(truth, predicted)
    assert scores.per_au_f1.tolist() == [1.0, 0.0]
    assert scores.accuracy == 1.0  # only AU1's two pairs count


def test_f1_from_counts_matches_formula():
    counts = np.array([[3, 1, 2, 10], [0, 0, 0, 5]])
    assert f1_from_counts(counts) == pytest.approx([6 / 9, 0.0])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        au_scores(np.zeros((3, 8)), np.zeros((3, 12)))


def test_as_dict_names_aus():
    scores = au_scores(TRUTH, PREDICTED)
    result = scores.as_dict(("AU1", "AU2"))
    assert result["per_au_f1"] == pytest.approx({"AU1": 0.5, "AU2": 2 / 3})
    assert result["abaw2020"] == pytest.approx(scores.abaw2020)
