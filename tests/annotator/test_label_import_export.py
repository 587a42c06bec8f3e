"""Aff-Wild2 label folders in and out of the store: byte-identical round trips, refusals."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sqlalchemy import func, select

import db
from annotator.labelfiles.label_io import ExportOptions, export_video, import_label_folder
from model.au_sets import au_names
from model.errors import InputError


@pytest.fixture
def sessions(tmp_path):
    return db.open_database(f"sqlite:///{tmp_path / 'annotations.sqlite3'}")


def _video(session, name, frames, fps=30.0):
    return db.register_video(
        session,
        content_hash=hashlib.sha256(name.encode()).hexdigest(),
        path=f"/videos/{name}.mp4",
        fps=fps,
        frame_count=frames,
        width=640,
        height=360,
    )


def _label_text(au_set, frames, seed):
    """A label file as Aff-Wild2 ships them: runs of 0/1 per AU and a stretch of -1."""
    rng = np.random.default_rng(seed)
    aus = au_names(au_set)
    labels = np.zeros((frames, len(aus)), dtype=int)
    for k in range(len(aus)):
        for start in rng.integers(0, frames, 4):
            labels[start : start + rng.integers(5, 40), k] = 1
    labels[frames // 3 : frames // 3 + 12] = -1
    rows = "".join(",".join(map(str, row)) + "\n" for row in labels)
    return ",".join(aus) + "\n" + rows


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _stored_edits(sessions):
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(db.Edit))


def test_import_then_export_gives_back_identical_files(sessions, tmp_path):
    root = tmp_path / "Aff-Wild2"
    files = {
        root / "AU_Set/Training_Set/118.txt": _label_text("abaw2020", 240, 1),
        root / "AU_Set/Validation_Set/10-60-1280x720_left.txt": _label_text("abaw2020", 180, 2),
        root / "AU_Set/Validation_Set/10-60-1280x720_right.txt": _label_text("abaw2020", 180, 3),
    }
    for path, text in files.items():
        _write(path, text)
    with sessions.begin() as session:
        _video(session, "118", 240)
        two = _video(session, "10-60-1280x720", 180)
        # subject 1 (most seen) sits on the right, subject 2 on the left
        db.store_subjects(session, two, [db.SubjectFound(1, 170, 900.0, None),
                                         db.SubjectFound(2, 150, 300.0, None)])
        imported = import_label_folder(session, root, "aff-wild2")
    assert {item.path.name: item.subject for item in imported} == {
        "118.txt": 1, "10-60-1280x720_left.txt": 2, "10-60-1280x720_right.txt": 1}

    out = tmp_path / "out"
    for unreviewed in ("prefill", "not-coded"):
        with sessions.begin() as session:
            for video in db.list_videos(session):
                export_video(
                    session,
                    video,
                    out / unreviewed,
                    ExportOptions(coder="aff-wild2", unreviewed=unreviewed),
                )
        for path, text in files.items():
            assert (out / unreviewed / path.name).read_bytes() == text.encode()


def test_twelve_au_files_round_trip_even_on_a_video_prefilled_with_eight(sessions, tmp_path):
    text = _label_text("abaw12", 150, 4)
    _write(tmp_path / "labels/AU_Detection_Challenge/Train_Set/video5.txt", text)
    with sessions.begin() as session:
        video = _video(session, "video5", 150)
        parameters = db.PredictionParameters(
            "abaw2020", dict.fromkeys(au_names("abaw2020"), 0.5), 1
        )
        db.store_prediction_run(session, video, np.full((150, 8), 0.7, np.float32), parameters)
        import_label_folder(session, tmp_path / "labels", "abaw")
        # the file's -1 stretch stays unreviewed: exported as -1 with the not-coded option
        options = ExportOptions(coder="abaw", unreviewed="not-coded")
        [written] = export_video(session, video, tmp_path / "out", options)
    assert written.read_text() == text


def _prefilled_video(session, name, frames):
    video = _video(session, name, frames)
    parameters = db.PredictionParameters("abaw2020", dict.fromkeys(au_names("abaw2020"), 0.5), 1)
    db.store_prediction_run(session, video, np.full((frames, 8), 0.7, np.float32), parameters)
    return video


def test_minus_one_in_a_file_leaves_frames_unreviewed_unless_asked(sessions, tmp_path):
    text = _label_text("abaw2020", 90, 8)  # frames 30..41 are -1 in every AU
    _write(tmp_path / "labels/clip.txt", text)
    with sessions.begin() as session:
        video = _prefilled_video(session, "clip", 90)
        import_label_folder(session, tmp_path / "labels", "alice")
        import_label_folder(session, tmp_path / "labels", "bob", minus_one="not-codable")
        alice = db.effective_labels(session, video, "alice")
        bob = db.effective_labels(session, video, "bob")
    assert not alice.reviewed[30:42].any() and alice.reviewed[:30].all()
    assert (alice.labels[30:42] == 1).all()  # the pre-fill (0.7 ≥ 0.5) shows there
    assert bob.reviewed.all() and (bob.labels[30:42] == -1).all()


def test_importing_the_same_file_again_changes_nothing(sessions, tmp_path):
    _write(tmp_path / "labels/clip.txt", _label_text("abaw2020", 90, 9))
    with sessions.begin() as session:
        _prefilled_video(session, "clip", 90)
        [first] = import_label_folder(session, tmp_path / "labels", "alice")
    edits = _stored_edits(sessions)
    with sessions.begin() as session:
        [again] = import_label_folder(session, tmp_path / "labels", "alice")
    assert first.events > 0 and not first.unchanged
    assert again.unchanged and again.events == 0
    assert _stored_edits(sessions) == edits
    with sessions.begin() as session:  # another coder's import of the same file is stored
        [other] = import_label_folder(session, tmp_path / "labels", "bob")
    assert not other.unchanged and _stored_edits(sessions) == edits + 1


@pytest.mark.parametrize(
    "name, text, problem",
    [
        ("unknown_video.txt", _label_text("abaw2020", 100, 5), "no registered video named"),
        ("clip.txt", "AU1,AU2,AU3\n" + "0,0,0\n" * 100, "line 1: header"),
        ("clip.txt", _label_text("abaw2020", 99, 6), "99 frame lines, but video clip"),
    ],
)
def test_a_bad_file_stops_the_whole_import(sessions, tmp_path, name, text, problem):
    folder = tmp_path / "labels"
    _write(folder / "another.txt", _label_text("abaw2020", 100, 7))  # good, sorted first
    _write(folder / name, text)
    with pytest.raises(InputError, match=problem) as error:
        with sessions.begin() as session:
            _video(session, "another", 100)
            _video(session, "clip", 100)
            import_label_folder(session, folder, "alice")
    assert str(error.value).startswith(str(folder / name))
    assert _stored_edits(sessions) == 0
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(db.Coder)) == 0


def test_export_fills_unreviewed_frames_by_option_and_keeps_no_face_at_minus_one(
    sessions, tmp_path
):
    probabilities = np.full((60, 8), 0.9, np.float32)
    probabilities[40:50] = np.nan  # no face
    with sessions.begin() as session:
        video = _video(session, "clip", 60)
        parameters = db.PredictionParameters(
            "abaw2020", dict.fromkeys(au_names("abaw2020"), 0.5), 1
        )
        db.store_prediction_run(session, video, probabilities, parameters)
        db.correct(session, video, "alice", "AU1", 0, 9, 0)
        for unreviewed in ("prefill", "not-coded"):
            export_video(
                session,
                video,
                tmp_path / unreviewed,
                ExportOptions(coder="alice", unreviewed=unreviewed),
            )

    def column(folder, k):
        lines = (tmp_path / folder / "clip.txt").read_text().splitlines()[1:]
        return np.array([int(line.split(",")[k]) for line in lines])

    prefilled, not_coded = column("prefill", 0), column("not-coded", 0)
    assert (prefilled[:10] == 0).all() and (not_coded[:10] == 0).all()
    assert (prefilled[10:40] == 1).all() and (not_coded[10:40] == -1).all()
    assert (prefilled[40:50] == -1).all()
    assert (column("prefill", 1)[:40] == 1).all()


def test_export_without_a_coder_refuses_to_guess_between_several(sessions, tmp_path):
    with sessions.begin() as session:
        video = _video(session, "clip", 10)
        db.correct(session, video, "alice", "AU1", 0, 1, 1)
        db.correct(session, video, "bob", "AU1", 0, 1, 0)
        with pytest.raises(InputError, match="several coders \\(alice, bob\\)"):
            export_video(session, video, tmp_path, ExportOptions())
