"""Labels for the tools coders already use: ELAN files out and back in, BORIS projects, and an
OpenFace CSV that OpenFace readers take, all timed by the decoded frames."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pandas as pd
import pytest
from helpers.label_files import lab_elan
from helpers.videos import marker_frame, write_video
from pympi.Elan import Eaf

import db
from annotator.labelfiles.label_io import ExportOptions, export_video, import_label_folder
from annotator.processing.prediction import process_video
from annotator.processing.video import iter_frames, open_video
from annotator.services import Services, actions
from model.au_sets import NUM_LANDMARKS, au_names
from model.errors import InputError

# frame durations of the variable-frame-rate clip, in seconds: 20 ms to 250 ms
VFR_STEPS = [0.033, 0.033, 0.1, 0.02, 0.25, 0.033, 0.05, 0.033, 0.2, 0.02] * 4


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory):
    times = np.r_[0.0, np.cumsum(VFR_STEPS)[:-1]].round(3).tolist()
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    return write_video(path, [marker_frame(64, 48)] * len(times), times=times)


@pytest.fixture
def clips(single_face, no_face, vfr_clip):
    return {"single_face": single_face, "no_face": no_face, "vfr": vfr_clip}


def _processed(tmp_path, clip):
    """A fresh database holding the processed clip (landmarks come from the test cache)."""
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    return url, process_video(clip, Services.open(url)).video_id


def _code(session, video, coder):
    """A coder's work on part of a video: present, absent and not-codable stretches, some AUs
    reviewed only on some frames, and a stretch ending on the last frame."""
    frames = video.frame_count
    db.correct(session, video, coder, "AU12", frames // 6, frames // 3, 1)
    db.correct(session, video, coder, "AU1", 0, frames - 1, 0)
    db.correct(session, video, coder, "AU4", frames // 2, frames // 2 + 4, -1)
    db.correct(session, video, coder, "AU25", 2, 5, 1)
    db.correct(session, video, coder, "AU25", 6, frames // 2, 0)
    db.correct(session, video, coder, "AU6", frames - 3, frames - 1, 1)


def _exports(sessions, video_id, coder, out):
    files = {}
    with sessions.begin() as session:
        video = db.get_video(session, video_id)
        for unreviewed in ("prefill", "not-coded"):
            options = ExportOptions("affwild2", coder, unreviewed)
            [path] = export_video(session, video, out / coder / unreviewed, options)
            files[unreviewed] = path.read_bytes()
    return files


@pytest.mark.parametrize("clip", ["single_face", "no_face", "vfr"])
def test_elan_export_imported_as_another_coder_exports_the_same_labels(clips, tmp_path, clip):
    url, video_id = _processed(tmp_path, clips[clip])
    sessions = db.open_database(url)
    with sessions.begin() as session:
        video = db.get_video(session, video_id)
        _code(session, video, "alice")
        [eaf] = export_video(session, video, tmp_path / "elan", ExportOptions("elan", "alice"))
    with sessions.begin() as session:
        [imported] = import_label_folder(session, tmp_path / "elan", "bob")
    assert eaf.name == f"{clip}.eaf" and imported.events > 0
    assert _exports(sessions, video_id, "bob", tmp_path) == \
        _exports(sessions, video_id, "alice", tmp_path)


def test_elan_file_links_the_video_and_holds_au_review_and_not_codable_tiers(clips, tmp_path):
    url, video_id = _processed(tmp_path, clips["single_face"])
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        _code(session, video, "alice")
        [eaf] = export_video(session, video, tmp_path, ExportOptions("elan", "alice"))
    document = Eaf(str(eaf))
    assert document.media_descriptors[0]["MEDIA_URL"] == clips["single_face"].absolute().as_uri()
    assert list(document.get_tier_names()) == [*au_names("abaw2020"), "AU4 not codable", "Review"]
    assert document.get_annotation_data_for_tier("AU4 not codable") == [(1200, 1367, "not codable")]
    review = [value for _, _, value in sorted(document.get_annotation_data_for_tier("Review"))]
    assert review == ["reviewed: AU1", "reviewed: AU1, AU25", "reviewed: AU1, AU12, AU25",
                      "reviewed: AU1, AU25", "reviewed: AU1, AU4, AU25", "reviewed: AU1, AU4",
                      "reviewed: AU1", "reviewed: AU1, AU6"]


def test_elan_times_are_the_decoded_frames_times_in_a_variable_frame_rate_video(
    clips, tmp_path
):
    url, video_id = _processed(tmp_path, clips["vfr"])
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        db.correct(session, video, "alice", "AU12", 2, 4, 1)  # 100 ms, 20 ms and 250 ms long
        [eaf] = export_video(session, video, tmp_path, ExportOptions("elan", "alice"))
    starts = [frame.time for frame in iter_frames(clips["vfr"])]
    [(start, end, value)] = Eaf(str(eaf)).get_annotation_data_for_tier("AU12")
    assert (start, end, value) == (round(starts[2] * 1000), round(starts[5] * 1000), "present")
    assert (start, end) == (66, 436)


def test_a_downloaded_elan_file_links_the_video_by_its_file_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    with db.open_database(url).begin() as session:
        video = _registered(session, tmp_path / "videos" / "clip.mp4")
        db.correct(session, video, "alice", "AU12", 10, 19, 1)
    [(name, content)] = actions.export_files(Services.open(url), video.id, "alice", "elan")
    (tmp_path / "videos" / name).parent.mkdir()
    (tmp_path / "videos" / name).write_bytes(content)  # saved beside the video
    [media] = Eaf(str(tmp_path / "videos" / name)).media_descriptors
    assert media["RELATIVE_MEDIA_URL"] == "./clip.mp4"
    assert media["MEDIA_URL"] == (tmp_path / "videos" / "clip.mp4").as_uri()


def test_an_elan_file_with_other_tier_names_imports_through_the_tier_map(clips, tmp_path):
    url, video_id = _processed(tmp_path, clips["single_face"])  # 30 fps: frame k at k/30 s
    folder = tmp_path / "lab"
    folder.mkdir()
    lab_elan(folder / "session 3 coder B.eaf", {
        "Smile": [(1010, 2010)], "Brows up": [], "AU 4": [(0, 500)], "Comments": [(0, 900)],
    }, clips["single_face"])
    tier_map = {"smile": "AU12", "brows up": "AU1"}
    with db.open_database(url).begin() as session:
        [imported] = import_label_folder(session, folder, "bob", tier_map=tier_map)
        labels = db.effective_labels(session, db.get_video(session, video_id), "bob")
    assert imported.video_id == video_id  # found by the media the file links
    assert [(t.tier, t.use, t.annotations, t.frames) for t in imported.tiers] == [
        ("Smile", "AU12", 1, 30), ("Brows up", "AU1", 0, 0), ("AU 4", "AU4", 1, 15),
        ("Comments", "skipped (not an AU name; map it with --tier-map)", 1, 0)]
    au = {name: k for k, name in enumerate(labels.aus)}
    assert labels.reviewed[:, [au["AU1"], au["AU4"], au["AU12"]]].all()
    assert not labels.reviewed[:, au["AU2"]].any()  # no tier: the pre-fill stays
    assert np.flatnonzero(labels.labels[:, au["AU12"]] == 1).tolist() == list(range(30, 60))
    assert np.flatnonzero(labels.labels[:, au["AU4"]] == 1).tolist() == list(range(15))
    assert (labels.labels[:, au["AU1"]] == 0).all()


def test_an_elan_file_without_au_tiers_is_refused_with_a_hint(clips, tmp_path):
    url, _ = _processed(tmp_path, clips["single_face"])
    (tmp_path / "lab").mkdir()
    lab_elan(tmp_path / "lab/single_face.eaf", {"Smile": []}, clips["single_face"])
    with pytest.raises(InputError, match="no AU tiers \\(tiers: Smile\\).*--tier-map"):
        with db.open_database(url).begin() as session:
            import_label_folder(session, tmp_path / "lab", "bob")


def test_importing_the_same_elan_file_again_changes_nothing(clips, tmp_path):
    url, video_id = _processed(tmp_path, clips["single_face"])
    sessions = db.open_database(url)
    with sessions.begin() as session:
        video = db.get_video(session, video_id)
        _code(session, video, "alice")
        export_video(session, video, tmp_path / "elan", ExportOptions("elan", "alice"))
    with sessions.begin() as session:
        [first] = import_label_folder(session, tmp_path / "elan", "bob")
        [again] = import_label_folder(session, tmp_path / "elan", "bob")
        [own] = import_label_folder(session, tmp_path / "elan", "alice")
        edits = len({row.edit_id for row in db.history(session, video_id)})
    assert not first.unchanged and again.unchanged and own.unchanged
    assert edits == 6 + 1  # alice's six corrections and bob's one import


def _boris_intervals(project, starts, ends):
    """(behaviour, first frame, last frame) per state event, paired the way BORIS pairs them:
    a behaviour's events of one subject in time order, odd ones start, even ones stop."""
    [observation] = project["observations"].values()
    middles = (np.asarray(starts) + np.asarray(ends)) / 2
    intervals = []
    for code in {event[2] for event in observation["events"]}:
        times = [event[0] for event in observation["events"] if event[2] == code]
        for start, stop in zip(times[::2], times[1::2], strict=True):
            inside = np.flatnonzero((middles >= start) & (middles < stop))
            intervals.append((code, int(inside[0]), int(inside[-1])))
    return sorted(intervals)


def test_boris_project_parses_back_to_the_same_intervals(clips, tmp_path):
    url, video_id = _processed(tmp_path, clips["vfr"])
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        _code(session, video, "alice")
        [path] = export_video(session, video, tmp_path, ExportOptions("boris", "alice"))
        labels = db.effective_labels(session, video, "alice")
        present = sorted((i.au, i.first_frame, i.last_frame)
                         for i in db.intervals_from_labels(labels.labels, labels.aus)
                         if i.value == 1)
    project = json.loads(path.read_text())
    starts = np.r_[0.0, np.cumsum(VFR_STEPS)[:-1]].round(3)
    assert _boris_intervals(project, starts, np.r_[starts[1:], starts[-1] + 0.033]) == present
    [(name, observation)] = project["observations"].items()
    assert (path.name, name, observation["type"]) == ("vfr.boris", "vfr", "MEDIA")
    assert observation["file"]["1"] == [str(clips["vfr"].resolve())]
    assert {event[1] for event in observation["events"]} == {"subject"}
    assert [(b["code"], b["type"]) for b in project["behaviors_conf"].values()] == [
        (au, "State event") for au in labels.aus]


@pytest.mark.parametrize("clip, fps", [("no_face", 24.0), ("vfr", 1 / 0.033)])
def test_a_boris_project_has_the_rate_the_frames_are_stamped_at(clips, tmp_path, clip, fps):
    # no_face.mp4 averages 23.67 frames/s but its frames are 1/24 s apart; the variable-rate
    # clip's stream states its time base (1000) as its rate: its median frame step counts
    url, video_id = _processed(tmp_path, clips[clip])
    with db.open_database(url).begin() as session:
        [path] = export_video(session, db.get_video(session, video_id), tmp_path,
                              ExportOptions("boris"))
    [observation] = json.loads(path.read_text())["observations"].values()
    assert observation["media_info"]["fps"] == {str(clips[clip].resolve()): pytest.approx(
        fps, abs=1e-3)}
    assert open_video(clips["no_face"]).fps == pytest.approx(23.67, abs=0.01)


# The column lists py-feat reads an OpenFace file with, copied from cosanlab/py-feat,
# feat/utils/__init__.py: openface_2d_landmark_columns (x_0…x_67, y_0…y_67), and
# openface_AU_columns = openface_AU_intensity + openface_AU_presence, the AU columns
# read_openface (feat/utils/io.py) hands to Fex, whose `aus` is `self[self.au_columns]`.
OPENFACE_LANDMARKS = [f"{axis}_{i}" for axis in "xy" for i in range(NUM_LANDMARKS)]
PYFEAT_AU_INTENSITY = [
    "AU01_r", "AU02_r", "AU04_r", "AU05_r", "AU06_r", "AU07_r", "AU09_r", "AU10_r", "AU12_r",
    "AU14_r", "AU15_r", "AU17_r", "AU20_r", "AU23_r", "AU25_r", "AU26_r", "AU45_r"]
PYFEAT_AU_PRESENCE = [
    "AU01_c", "AU02_c", "AU04_c", "AU05_c", "AU06_c", "AU07_c", "AU09_c", "AU10_c", "AU12_c",
    "AU14_c", "AU15_c", "AU17_c", "AU20_c", "AU23_c", "AU25_c", "AU26_c", "AU28_c", "AU45_c"]
PYFEAT_AU_COLUMNS = PYFEAT_AU_INTENSITY + PYFEAT_AU_PRESENCE


def _read_openface(path):
    """The CSV as py-feat's read_openface reads it: pandas, column names stripped."""
    table = pd.read_csv(path, sep=",")
    table.columns = table.columns.str.strip(" ")
    return table


@pytest.mark.parametrize("clip, frames, faces", [("single_face", 72, 72), ("no_face", 95, 0)])
def test_openface_csv_has_openface_columns_and_a_row_per_decoded_frame(
    clips, tmp_path, clip, frames, faces
):
    url, video_id = _processed(tmp_path, clips[clip])
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        [path] = export_video(session, video, tmp_path, ExportOptions("openface-csv"))
    table = _read_openface(path)
    assert list(table.columns) == [
        "frame", "face_id", "timestamp", "confidence", "success", *OPENFACE_LANDMARKS,
        *PYFEAT_AU_COLUMNS]  # the eight exported AUs are all among OpenFace's
    exported = {f"AU{int(au[2:]):02d}_{kind}" for au in au_names("abaw2020") for kind in "rc"}
    assert (table[[c for c in PYFEAT_AU_COLUMNS if c not in exported]] == -1).all().all()
    assert table["frame"].tolist() == list(range(1, frames + 1))
    decoded = [frame.time for frame in iter_frames(clips[clip])]
    assert table["timestamp"].to_numpy() == pytest.approx(decoded, abs=5e-4)
    assert table["success"].sum() == faces and (table["face_id"] == 0).all()
    found = table[table["success"] == 1]
    assert (found["x_30"].between(0, 640) & found["y_30"].between(0, 360)).all()  # nose tip
    assert (found["confidence"] > 0).all()
    missing = table[table["success"] == 0]
    assert (missing[[*OPENFACE_LANDMARKS, "confidence"]] == 0).all().all()


def _openface_column(au, kind):
    return f"AU{int(au[2:]):02d}_{kind}"


def test_py_feats_au_selection_reads_labels_and_model_intensities_from_the_openface_csv(
    clips, tmp_path
):
    url, video_id = _processed(tmp_path, clips["single_face"])
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        _code(session, video, "alice")
        [path] = export_video(session, video, tmp_path, ExportOptions("openface-csv", "alice"))
        labels = db.effective_labels(session, video, "alice")
        probabilities = db.run_probabilities(db.latest_prediction_run(session, video_id))
    aus = _read_openface(path)[PYFEAT_AU_COLUMNS]  # what Fex.aus selects: no KeyError
    assert aus.shape == (72, 35)
    for k, au in enumerate(labels.aus):
        assert aus[_openface_column(au, "c")].tolist() == labels.labels[:, k].tolist()
        assert aus[_openface_column(au, "r")].to_numpy() == pytest.approx(
            probabilities[:, k] * 5, abs=5e-4)  # on OpenFace's 0-5 scale, whatever alice says
    assert aus["AU12_c"].max() == 1 and aus["AU12_r"].between(0, 5).all()
    assert (aus[["AU05_r", "AU45_r", "AU05_c", "AU28_c"]] == -1).all().all()


def test_openface_intensities_are_minus_one_without_a_face(clips, tmp_path):
    url, video_id = _processed(tmp_path, clips["no_face"])
    with db.open_database(url).begin() as session:
        [path] = export_video(session, db.get_video(session, video_id), tmp_path,
                              ExportOptions("openface-csv"))
    aus = _read_openface(path)[PYFEAT_AU_COLUMNS]
    assert (aus == -1).all().all()


def _registered(session, path, content_hash=None):
    return db.register_video(
        session, content_hash=content_hash or hashlib.sha256(str(path).encode()).hexdigest(),
        path=path, fps=25.0, frame_count=50, width=64, height=64)


def test_without_the_video_file_elan_times_frames_by_fps_and_openface_refuses(
    tmp_path, caplog
):
    with db.open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}").begin() as session:
        video = _registered(session, tmp_path / "gone.mp4")
        db.correct(session, video, "alice", "AU12", 10, 19, 1)
        with caplog.at_level(logging.WARNING):
            [eaf] = export_video(session, video, tmp_path, ExportOptions("elan", "alice"))
        with pytest.raises(InputError, match="video file not found; the OpenFace CSV"):
            export_video(session, video, tmp_path, ExportOptions("openface-csv", "alice"))
    assert "gone.mp4: video file not found; timing its frames as frame / fps" in caplog.text
    assert Eaf(str(eaf)).get_annotation_data_for_tier("AU12") == [(400, 800, "present")]


def test_a_video_file_whose_content_changed_is_refused(single_face, tmp_path):
    with db.open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}").begin() as session:
        video = _registered(session, single_face, content_hash="0" * 64)
        with pytest.raises(InputError, match="its content changed; process it again"):
            export_video(session, video, tmp_path, ExportOptions("elan"))
