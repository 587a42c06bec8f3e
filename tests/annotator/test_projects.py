"""Projects through the command line on a real SQLite file with the real clips: adding videos
(processed on the way), members, assignment, progress, done and the reliability report.

The clips: single_face and single_face_hevc (72 frames, a face on every one) and no_face (95
frames, no face: nothing to review).
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from helpers.command_line import cli

import db
from annotator.services.lab_projects import plan_assignments

CLIPS = ("single_face.mp4", "single_face_hevc.mov", "no_face.mp4")
AUS8 = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    """Project `lab` holding the three clips (added as a folder), and its first CLI lines."""
    folder = tmp_path_factory.mktemp("clips")
    data = Path(__file__).resolve().parents[1] / "data"
    for clip in CLIPS:
        shutil.copy(data / clip, folder / clip)
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'annotations.sqlite3'}"
    lines = {"add": cli("project", "add", "lab", "--db", url),
             "videos": cli("project", "add-videos", "lab", str(folder), "--workers", "1",
                           "--db", url),
             "again": cli("project", "add-videos", "lab", str(folder / CLIPS[0]), "--db", url)}
    return {"url": url, "lines": lines}


def video_id(url: str, name: str) -> int:
    with db.open_database(url).begin() as session:
        return db.videos_named(session, name)[0].id


def label(url: str, video: str, coder: str, au: str, first: int, last: int, value: int) -> None:
    with db.open_database(url).begin() as session:
        clip = db.videos_named(session, video)[0]
        db.correct(session, clip, coder, au, first, last, value)


def accept_all(url: str, video: str, coder: str) -> None:
    with db.open_database(url).begin() as session:
        clip = db.videos_named(session, video)[0]
        db.accept_prefill(session, clip, coder, 0, clip.frame_count - 1)


def test_adding_a_folder_processes_its_videos_into_the_project(lab):
    assert lab["lines"]["add"] == (0, "project lab added (AU set abaw2020)\n", "")
    assert lab["lines"]["videos"][1] == ("3 videos added to lab (3 processed now, 0 processed "
                                         "before, 0 already in it)\n")
    assert lab["lines"]["again"][1] == ("0 videos added to lab (0 processed now, 1 processed "
                                        "before, 1 already in it)\n")


def test_list_names_each_project_with_its_members_and_videos(lab):
    url = lab["url"]
    cli("project", "add", "listed", "--au-set", "abaw12", "--db", url)
    cli("project", "members", "listed", "--add", "zoe", "--admin", "yan", "--db", url)
    status, out, _ = cli("project", "list", "--db", url)
    assert status == 0
    assert "lab\tabaw2020\t" in out
    assert "listed\tabaw12\t2 members\t0 videos\n" in out


def test_members_are_added_promoted_and_removed(lab):
    url = lab["url"]
    cli("project", "add", "crew", "--db", url)
    _, out, _ = cli("project", "members", "crew", "--add", "ann", "--add", "ben", "--add", "cy",
                    "--db", url)
    assert out == "ann\tcoder\nben\tcoder\ncy\tcoder\n"
    _, out, _ = cli("project", "members", "crew", "--admin", "ann", "--remove", "cy",
                    "--db", url)
    assert out == "ann\tadmin\nben\tcoder\n"


def test_errors_are_one_line_naming_the_project(lab):
    url = lab["url"]
    assert cli("project", "add", "lab", "--db", url) == (
        2, "", "au-annotator project: error: lab: a project of this name exists already\n")
    status, _, err = cli("project", "progress", "nope", "--db", url)
    assert status == 2
    assert err == ("au-annotator project: error: nope: no project of this name (see "
                   "`au-annotator project list`)\n")
    status, _, err = cli("project", "assign", "listed", "--reliability", "0.5", "--db", url)
    assert (status, err) == (2, "au-annotator project: error: listed: reliability coding "
                                "needs at least two coders in the project\n")


def test_assignment_balances_frames_and_pairs_every_two_coders_once():
    frames = {video: 100 + 37 * video for video in range(12)}  # 12 videos, 100..507 frames
    coders = ["a", "b", "c", "d"]
    load, met = Counter(dict.fromkeys(coders, 0)), Counter()
    planned = plan_assignments(frames, coders, load, met, share=0.5)
    primary = Counter(video for video, _, role in planned if role == "primary")
    second = {video: coder for video, coder, role in planned if role == "reliability"}
    assert set(primary) == set(frames) and set(primary.values()) == {1}
    assert len(second) == 6  # half of the 12 videos
    pairs = Counter(tuple(sorted((coder, second[video]))) for video, coder, role in planned
                    if role == "primary" and video in second)
    assert pairs == Counter(dict.fromkeys(itertools.combinations(coders, 2), 1))
    given = Counter()
    for video, coder, _ in planned:
        given[coder] += frames[video]
    assert given == load
    assert max(given.values()) - min(given.values()) <= max(frames.values())
    reliability_frames = sorted(frames[video] for video in second)
    assert reliability_frames[0] < 250 < reliability_frames[-1]  # long and short alike


def test_assign_gives_each_video_one_coder_and_the_share_a_second(lab):
    url = lab["url"]
    cli("project", "members", "lab", "--add", "ida", "--add", "jo", "--admin", "kim",
        "--db", url)
    status, out, _ = cli("project", "assign", "lab", "--reliability", "0.34", "--db", url)
    lines = out.splitlines()
    assert status == 0 and lines[-1] == "3 videos assigned, 1 of them also for reliability"
    rows = [line.split("\t") for line in lines[:-1]]
    assert sorted(video for video, _, role in rows if role == "primary") == [
        "no_face", "single_face", "single_face_hevc"]
    assert {coder for _, coder, _ in rows} == {"ida", "jo"}  # the admin codes nothing
    assert cli("project", "assign", "lab", "--db", url)[1] == (
        "0 videos assigned, 0 of them also for reliability\n")


@pytest.fixture(scope="module")
def pair(lab) -> dict:
    """Project `pair`: single_face coded by both lee and max, no_face by lee alone."""
    url = lab["url"]
    cli("project", "add", "pair", "--db", url)
    clips = [video_id(url, "single_face"), video_id(url, "no_face")]
    with db.open_database(url).begin() as session:
        project = db.projects.project_named(session, "pair")
        db.projects.add_project_videos(session, project, clips)
        for coder in ("lee", "max"):
            db.projects.set_member(session, project, coder, "coder")
        db.projects.set_member(session, project, "ned", "admin")
        db.projects.add_assignment(session, project, clips[0], "lee", "primary")
        db.projects.add_assignment(session, project, clips[0], "max", "reliability")
        db.projects.add_assignment(session, project, clips[1], "lee", "primary")
    # AU12 of frames 0..59: lee present on 0..23, max on 12..35, both absent elsewhere
    label(url, "single_face", "lee", "AU12", 0, 59, 0)
    label(url, "single_face", "lee", "AU12", 0, 23, 1)
    label(url, "single_face", "max", "AU12", 0, 59, 0)
    label(url, "single_face", "max", "AU12", 12, 35, 1)
    return {"url": url}


def progress_lines(url: str, project: str) -> list[str]:
    return cli("project", "progress", project, "--db", url)[1].splitlines()


def test_progress_is_the_share_of_face_frame_au_cells_reviewed(pair):
    # 60 of 72 frames of one AU of eight: 60 / 576
    assert progress_lines(pair["url"], "pair") == [
        "no_face\tlee\tprimary\t100.0 %\topen",  # no face: nothing to review
        "single_face\tlee\tprimary\t10.4 %\topen",
        "single_face\tmax\treliability\t10.4 %\topen",
    ]


def test_the_report_gives_kappa_f1_and_prevalence_computed_by_hand(pair, tmp_path):
    status, out, _ = cli("project", "report", "pair", "--out", str(tmp_path), "--db",
                         pair["url"])
    assert status == 0
    assert out.splitlines() == [str(tmp_path / name) for name in
                                ("reliability.csv", "progress.csv", "report.html")]
    table = pd.read_csv(tmp_path / "reliability.csv")
    au12 = table[table["au"] == "AU12"].set_index("video")
    # 60 frames: both present 12, lee only 12, max only 12, both absent 24
    # observed 0.6, chance 0.4·0.4 + 0.6·0.6 = 0.52: kappa 0.08 / 0.48 = 1/6
    for video in ("single_face", "(pooled)"):
        row = au12.loc[video]
        assert (row["coder_a"], row["coder_b"], row["frames"]) == ("lee", "max", 60)
        assert row["kappa"] == pytest.approx(1 / 6, abs=1e-4)
        assert row["f1"] == pytest.approx(24 / 48, abs=1e-4)
        assert row["prevalence"] == pytest.approx(48 / 120, abs=1e-4)
    au1 = table[table["au"] == "AU1"].iloc[0]
    assert au1["frames"] == 0 and pd.isna(au1["kappa"])  # nobody reviewed AU1
    page = (tmp_path / "report.html").read_text()
    assert "Cohen's kappa per AU" in page and "cells reviewed" in page


def test_done_needs_every_face_frame_and_au_reviewed_and_only_an_admin_reopens(pair):
    url = pair["url"]
    mark = ("project", "done", "pair", "--video", "single_face", "--coder", "lee", "--db", url)
    assert cli(*mark) == (2, "", "au-annotator project: error: single_face: 516 of 576 face "
                                 "frame × AU cells are not reviewed by lee yet; review them "
                                 "first\n")
    accept_all(url, "single_face", "lee")
    assert cli(*mark)[:2] == (0, "single_face: done by lee\n")
    assert progress_lines(url, "pair")[1] == "single_face\tlee\tprimary\t100.0 %\tdone"
    reopen = ("project", "reopen", "pair", "--video", "single_face", "--coder", "lee")
    assert cli(*reopen, "--by", "max", "--db", url)[2] == (
        "au-annotator project: error: max: only an admin of project pair may reopen a video\n")
    assert cli(*reopen, "--by", "ned", "--db", url)[1] == "single_face: reopened for lee\n"
    assert progress_lines(url, "pair")[1] == "single_face\tlee\tprimary\t100.0 %\topen"


def test_export_of_a_project_writes_its_done_videos_or_all(pair, tmp_path):
    url = pair["url"]
    cli("project", "done", "pair", "--video", "no_face", "--coder", "lee", "--db", url)
    status, out, _ = cli("export", "--project", "pair", "--done", "--format", "affwild2",
                         "--out", str(tmp_path / "done"), "--db", url)
    assert (status, out) == (0, f"{tmp_path / 'done' / 'no_face.txt'}\n")
    status, out, _ = cli("export", "--project", "pair", "--format", "affwild2", "--out",
                         str(tmp_path / "all"), "--db", url)
    assert sorted(Path(line).name for line in out.splitlines()) == ["no_face.txt",
                                                                     "single_face.txt"]
    lines = (tmp_path / "all" / "single_face.txt").read_text().splitlines()
    assert lines[0] == ",".join(AUS8)
    assert [line.split(",")[4] for line in lines[1:61]] == ["1"] * 24 + ["0"] * 36  # lee's
