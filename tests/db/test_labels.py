"""Prediction runs, corrections, undo/redo and the effective labels a coder sees."""

from __future__ import annotations

import numpy as np
import pytest

import db
from model.smoothing import prefill_labels

AU12 = 4  # column of AU12 in abaw2020


def _probabilities(frames=300, aus=8, seed=0):
    rng = np.random.default_rng(seed)
    probabilities = rng.random((frames, aus)).astype(np.float32)
    probabilities[100:120] = np.nan  # no face
    return probabilities


def test_registering_again_is_idempotent_and_follows_a_moved_file(sessions, make_video):
    with sessions.begin() as session:
        first = make_video(session, "clip")
        again = db.register_video(
            session,
            content_hash=first.content_hash,
            path="/elsewhere/renamed.mp4",
            fps=30,
            frame_count=300,
            width=640,
            height=360,
        )
        assert again.id == first.id
        assert (again.path, again.name) == ("/elsewhere/renamed.mp4", "renamed")
        assert len(db.list_videos(session)) == 1


def test_a_run_gives_back_its_probabilities_exactly(sessions, make_video, make_run):
    probabilities = _probabilities()
    with sessions.begin() as session:
        run = make_run(session, make_video(session), probabilities, window=5)
    with sessions.begin() as session:
        latest = db.latest_prediction_run(session, run.video_id)
        stored = db.run_probabilities(latest)
        labels, face = db.run_prefill(latest)
    np.testing.assert_array_equal(stored, probabilities)  # NaN rows compare equal here
    np.testing.assert_array_equal(labels, prefill_labels(probabilities, 0.5, 5))
    assert not face[100:120].any() and face[:100].all()


def test_a_run_that_does_not_fit_the_video_is_refused(sessions, make_video, make_run):
    with sessions.begin() as session:
        with pytest.raises(ValueError, match="do not fit video"):
            make_run(session, make_video(session, frames=300), _probabilities(frames=299))


def test_without_corrections_the_labels_are_the_prefill_and_unreviewed(
    sessions, make_video, make_run
):
    with sessions.begin() as session:
        video = make_video(session)
        make_run(session, video, _probabilities())
        labels = db.effective_labels(session, video, "alice")
    np.testing.assert_array_equal(labels.labels, prefill_labels(_probabilities(), 0.5, 1))
    assert not labels.reviewed.any()
    assert (labels.labels[100:120] == -1).all()


def test_the_newest_covering_correction_wins(sessions, make_video, make_run):
    with sessions.begin() as session:
        video = make_video(session)
        make_run(session, video, np.zeros((300, 8), np.float32))
        db.correct(session, video, "alice", "AU12", 10, 50, 1)
        db.correct(session, video, "alice", "AU12", 40, 60, 0)
        db.correct(session, video, "alice", "AU12", 45, 46, -1)
        labels = db.effective_labels(session, video, "alice")
    column = labels.labels[:, AU12]
    assert (column[10:40] == 1).all()
    assert (column[40:45] == 0).all() and (column[47:61] == 0).all()
    assert (column[45:47] == -1).all()
    assert labels.reviewed[10:61, AU12].all() and not labels.reviewed[61:, AU12].any()
    assert not labels.reviewed[:, :AU12].any()


def test_each_coder_sees_only_their_own_corrections(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        db.correct(session, video, "alice", "AU1", 0, 9, 1)
        db.correct(session, video, "bob", "AU1", 5, 14, 0)
        alice = db.effective_labels(session, video, "alice")
        bob = db.effective_labels(session, video, "bob")
    assert (alice.labels[:10, 0] == 1).all() and (alice.labels[10:, 0] == -1).all()
    assert (bob.labels[5:15, 0] == 0).all() and (bob.labels[:5, 0] == -1).all()


def test_undo_and_redo_walk_back_and_forth_through_the_edits(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        db.correct(session, video, "alice", "AU2", 0, 99, 1)
        db.correct(session, video, "alice", "AU2", 50, 99, 0)

        def au2():
            labels = db.effective_labels(session, video, "alice")
            return labels.labels[:100, 1].tolist(), labels.reviewed[:100, 1].sum()

        edited = au2()
        db.undo(session, video, "alice")
        assert au2() == ([1] * 100, 100)
        db.undo(session, video, "alice")
        assert au2() == ([-1] * 100, 0)  # back to the unreviewed pre-fill
        assert db.undo(session, video, "alice") is None
        db.redo(session, video, "alice")
        db.redo(session, video, "alice")
        assert au2() == edited
        assert db.redo(session, video, "alice") is None


def test_a_new_edit_after_undo_clears_redo(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        db.correct(session, video, "alice", "AU4", 0, 9, 1)
        db.undo(session, video, "alice")
        db.correct(session, video, "alice", "AU4", 20, 29, 1)
        assert db.redo(session, video, "alice") is None
        labels = db.effective_labels(session, video, "alice").labels[:, 2]
    assert (labels[:10] == -1).all() and (labels[20:30] == 1).all()


def test_undo_only_touches_the_coders_own_edits(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        db.correct(session, video, "alice", "AU6", 0, 9, 1)
        db.correct(session, video, "bob", "AU6", 0, 9, 0)
        db.undo(session, video, "alice")
        assert (db.effective_labels(session, video, "bob").labels[:10, 3] == 0).all()
        assert not db.effective_labels(session, video, "alice").reviewed.any()


def test_history_keeps_everything_and_marks_what_is_undone(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        kept = db.correct(session, video, "alice", "AU12", 0, 9, 1)
        undone = db.correct(session, video, "alice", "AU12", 5, 20, 0)
        db.undo(session, video, "alice")
        rows = db.history(session, video.id)
    assert [(r.kind, r.edit_id, r.undone) for r in rows] == [
        ("edit", kept.id, False),
        ("edit", undone.id, True),
        ("undo", rows[2].edit_id, False),
    ]
    assert (rows[1].coder, rows[1].au, rows[1].first_frame, rows[1].last_frame, rows[1].value) == (
        "alice",
        "AU12",
        5,
        20,
        0,
    )
    assert rows[2].target_edit_id == undone.id and rows[2].au is None


def test_accepting_the_prefill_marks_frames_reviewed_and_keeps_corrections(
    sessions, make_video, make_run
):
    probabilities = _probabilities()
    with sessions.begin() as session:
        video = make_video(session)
        make_run(session, video, probabilities)
        db.correct(session, video, "alice", "AU12", 30, 39, 1)
        before = db.effective_labels(session, video, "alice").labels
        db.accept_prefill(session, video, "alice", 0, 149)
        after = db.effective_labels(session, video, "alice")
        # a later run with other values does not change what the coder accepted
        make_run(session, video, 1 - np.nan_to_num(probabilities, nan=0.5))
        later = db.effective_labels(session, video, "alice")
    np.testing.assert_array_equal(after.labels, before)
    assert after.reviewed[:150].all() and not after.reviewed[150:].any()
    np.testing.assert_array_equal(later.labels[:150], before[:150])


def test_subjects_of_a_two_person_video_are_separate_tracks(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        db.store_subjects(session, video, [db.SubjectFound(1, 300, 160.0, None),
                                           db.SubjectFound(2, 250, 480.0, None)])
        db.correct(session, video, "alice", "AU1", 0, 9, 1, subject=2)
        db.correct(session, video, "alice", "AU1", 0, 9, 0, subject=1)
        second = db.effective_labels(session, video, "alice", subject=2).labels
        first = db.effective_labels(session, video, "alice", subject=1).labels
        assert db.tracks(session, video.id) == [db.Track("alice", 2), db.Track("alice", 1)]
    assert (second[:10, 0] == 1).all() and (first[:10, 0] == 0).all()


def test_undo_takes_back_the_newest_edit_of_that_subject_only(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        db.store_subjects(session, video, [db.SubjectFound(1, 300, 160.0, None),
                                           db.SubjectFound(2, 250, 480.0, None)])
        db.correct(session, video, "alice", "AU1", 0, 9, 1, subject=1)
        db.correct(session, video, "alice", "AU1", 0, 9, 1, subject=2)
        db.undo(session, video, "alice", subject=1)
        assert not db.effective_labels(session, video, "alice", subject=1).reviewed.any()
        assert db.effective_labels(session, video, "alice", subject=2).reviewed[:10, 0].all()
        assert [row.subject for row in db.history(session, video.id, subject=2)] == [2]


def test_a_subject_the_video_does_not_have_is_refused(sessions, make_video):
    with sessions.begin() as session:
        video = make_video(session)
        with pytest.raises(ValueError, match="has no subject 2 .*subjects 1"):
            db.correct(session, video, "alice", "AU1", 0, 9, 1, subject=2)


@pytest.mark.parametrize(
    "au, first, last, value, problem",
    [
        ("AU99", 0, 1, 1, "unknown AU"),
        ("AU1", 5, 4, 1, "outside video"),
        ("AU1", 0, 300, 1, "outside video"),
        ("AU1", 0, 1, 2, "must be 1, 0 or -1"),
    ],
)
def test_impossible_corrections_are_refused(sessions, make_video, au, first, last, value, problem):
    with sessions.begin() as session:
        video = make_video(session)
        with pytest.raises(ValueError, match=problem):
            db.correct(session, video, "alice", au, first, last, value)
