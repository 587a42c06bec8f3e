"""`--as CODER`: the command line with a coder's account keeps to that coder's projects, as the
page and the player's files do (real SQLite file, real clips, the CLI run in this process).

single_face is in project A (coder ann), single_face_hevc in project B (coder bo, admin bea);
root administers the app. Passwords come from AU_ANNOTATOR_PASSWORD, as in a script.
"""

from __future__ import annotations

import pytest
from helpers.command_line import cli

import db
from annotator.processing.corpus import CorpusOptions, label_corpus
from annotator.services import Services


@pytest.fixture(scope="module")
def lab(tmp_path_factory, single_face) -> dict:
    url = f"sqlite:///{tmp_path_factory.mktemp('as-coder') / 'annotations.sqlite3'}"
    hevc = single_face.with_name("single_face_hevc.mov")
    summary = label_corpus([single_face, hevc], Services.open(url), CorpusOptions(workers=1))
    ids = [o.result.video_id for o in summary.outcomes]
    with db.open_database(url).begin() as session:
        for coder in ("ann", "bo", "bea", "root"):
            db.add_account(session, coder, f"{coder}-password", admin=coder == "root")
        for name, video_id, coder in (("A", ids[0], "ann"), ("B", ids[1], "bo")):
            project = db.projects.add_project(session, name, "abaw2020")
            db.projects.add_project_videos(session, project, [video_id])
            db.projects.set_member(session, project, coder, "coder")
            db.projects.add_assignment(session, project, video_id, coder, "primary")
        db.projects.set_member(session, db.projects.project_named(session, "B"), "bea", "admin")
    return {"url": url, "A": ids[0], "B": ids[1]}


def as_coder(lab, monkeypatch, coder: str, *args: str, password: str | None = None):
    """`au-annotator ARGS --as CODER` with the coder's password in the environment."""
    monkeypatch.setenv("AU_ANNOTATOR_PASSWORD", password or f"{coder}-password")
    return cli(*args, "--as", coder, "--db", lab["url"])


def export(folder, *which: str) -> tuple[str, ...]:
    return ("export", *which, "--format", "affwild2", "--out", str(folder))


def test_a_video_of_another_project_is_refused_in_one_line_and_nothing_is_written(
        lab, monkeypatch, tmp_path):
    refusal = (2, "", f"au-annotator export: error: single_face_hevc (#{lab['B']}): in none of "
                      "ann's projects\n")
    assert as_coder(lab, monkeypatch, "ann",
                    *export(tmp_path, "--video", "single_face_hevc")) == refusal
    assert as_coder(lab, monkeypatch, "ann", *export(tmp_path, "--video", "single_face",
                                                     "--video", "single_face_hevc")) == refusal
    assert as_coder(lab, monkeypatch, "ann", *export(tmp_path, "--project", "B")) == refusal
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_the_coders_own_video_exports(lab, monkeypatch, tmp_path):
    status, out, err = as_coder(lab, monkeypatch, "ann", *export(tmp_path, "--project", "A"))
    assert (status, out, err) == (0, f"{tmp_path / 'single_face.txt'}\n", "")
    assert (tmp_path / "single_face.txt").read_text().startswith("AU1,AU2,AU4,AU6,AU12,")


def test_export_of_every_video_keeps_to_the_coders_projects(lab, monkeypatch, tmp_path):
    assert as_coder(lab, monkeypatch, "bo", *export(tmp_path / "bo"))[1] == (
        f"{tmp_path / 'bo' / 'single_face_hevc.txt'}\n")
    status, out, _ = as_coder(lab, monkeypatch, "root", *export(tmp_path / "root"))
    assert status == 0 and len(out.splitlines()) == 2  # the app's admin sees every video


def test_a_wrong_password_is_refused_before_anything_is_read(lab, monkeypatch, tmp_path):
    assert as_coder(lab, monkeypatch, "ann", *export(tmp_path, "--video", "single_face"),
                    password="not-anns-password") == (
        2, "", "au-annotator export: error: ann: name or password is wrong (or the account is "
               "disabled)\n")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_progress_and_report_are_for_the_projects_admins(lab, monkeypatch, tmp_path):
    assert as_coder(lab, monkeypatch, "bo", "project", "progress", "B") == (
        2, "", "au-annotator project: error: bo: only an admin of project B may read its "
               "progress\n")
    assert as_coder(lab, monkeypatch, "ann", "project", "report", "B", "--out",
                    str(tmp_path)) == (2, "", "au-annotator project: error: ann: only an admin "
                                              "of project B may read its report\n")
    assert not any(tmp_path.iterdir())
    for admin in ("bea", "root"):
        assert as_coder(lab, monkeypatch, admin, "project", "progress", "B") == (
            0, "single_face_hevc\tbo\tprimary\t0.0 %\topen\n", "")


def test_without_as_the_command_line_reads_everything_as_before(lab, tmp_path):
    status, out, _ = cli(*export(tmp_path), "--db", lab["url"])
    assert status == 0 and len(out.splitlines()) == 2
