"""`au-annotator import-labels` and `export` from the command line."""

from __future__ import annotations

import hashlib

import db
from annotator.cli import main


def _register(url, name, frames):
    with db.open_database(url).begin() as session:
        db.register_video(
            session,
            content_hash=hashlib.sha256(name.encode()).hexdigest(),
            path=f"/videos/{name}.mp4",
            fps=30,
            frame_count=frames,
            width=64,
            height=64,
        )


def test_import_labels_then_export_from_the_command_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    _register(url, "clip", 3)
    text = "AU1,AU2,AU4,AU6,AU12,AU15,AU20,AU25\n" + "0,1,0,0,1,0,0,-1\n" * 3
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "clip.txt").write_text(text)

    assert main(["import-labels", str(tmp_path / "labels"), "--coder", "ann", "--db", url]) == 0
    assert "imported 1 label files for 1 videos as coder ann" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["export", "--all", "--format", "affwild2", "--out", str(out), "--db", url]) == 0
    assert capsys.readouterr().out.strip() == str(out / "clip.txt")
    assert (out / "clip.txt").read_text() == text

    assert main(["import-labels", str(tmp_path / "labels"), "--coder", "ann", "--db", url]) == 0
    assert "(1 unchanged: already stored)" in capsys.readouterr().out


def test_a_bad_label_folder_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AU_ANNOTATOR_DB", str(tmp_path / "b.sqlite3"))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "nobody.txt").write_text("AU1,AU2\n")
    assert main(["import-labels", str(tmp_path / "labels"), "--coder", "ann"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"{tmp_path / 'labels' / 'nobody.txt'}: no registered video named nobody" in error


def test_export_of_an_unknown_video_is_refused(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    _register(url, "clip", 3)
    status = main(
        [
            "export",
            "--video",
            "missing",
            "--format",
            "affwild2",
            "--out",
            str(tmp_path),
            "--db",
            url,
        ]
    )
    assert status == 2
    assert "missing: no registered video with this id or name" in capsys.readouterr().err
