"""`au-annotator import-labels` and `export` from the command line."""

from __future__ import annotations

import hashlib

import pytest
from helpers.label_files import lab_elan
from pympi.Elan import Eaf

import db
from annotator.cli import main
from model.files import content_hash


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
    assert ("missing: no registered video with this id, name, file name or path"
            in capsys.readouterr().err)


@pytest.fixture
def two_clips(tmp_path):
    """A database of two videos whose files exist: videos/clip.mp4 (id 1) and
    videos/other.mp4 (id 2)."""
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    (tmp_path / "videos").mkdir()
    with db.open_database(url).begin() as session:
        for name in ("clip", "other"):
            path = tmp_path / "videos" / f"{name}.mp4"
            path.write_bytes(name.encode())
            db.register_video(session, content_hash=content_hash(path), path=path, fps=30,
                              frame_count=3, width=64, height=64)
    return url


@pytest.mark.parametrize("chosen", ["1", "clip", "clip.mp4", "{tmp}/videos/clip.mp4",
                                    "videos/clip.mp4", "{tmp}/moved.mp4"])
def test_export_finds_a_video_by_id_name_file_name_or_path(two_clips, tmp_path, capsys,
                                                           monkeypatch, chosen):
    (tmp_path / "moved.mp4").write_bytes(b"clip")  # the same content elsewhere
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["export", "--video", chosen.format(tmp=tmp_path), "--format", "affwild2",
                 "--out", str(out), "--db", two_clips]) == 0
    assert capsys.readouterr().out.split() == [str(out / "clip.txt")]


@pytest.mark.parametrize("chosen", ["clip.avi", "elsewhere/clip.mp4"])
def test_export_refuses_a_file_name_or_path_of_no_registered_video(two_clips, tmp_path, capsys,
                                                                   chosen):
    assert main(["export", "--video", chosen, "--format", "affwild2",
                 "--out", str(tmp_path / "out"), "--db", two_clips]) == 2
    assert f"{chosen}: no registered video" in capsys.readouterr().err


def test_an_elan_file_links_the_video_relative_to_the_out_folder(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    with db.open_database(url).begin() as session:
        db.register_video(session, content_hash="e" * 64, path=tmp_path / "media" / "clip.mp4",
                          fps=30, frame_count=3, width=64, height=64)
    out = tmp_path / "exports" / "elan"
    assert main(["export", "--format", "elan", "--out", str(out), "--db", url]) == 0
    [media] = Eaf(str(out / "clip.eaf")).media_descriptors
    assert media["RELATIVE_MEDIA_URL"] == "../../media/clip.mp4"
    assert (out / media["RELATIVE_MEDIA_URL"]).resolve() == tmp_path / "media" / "clip.mp4"


@pytest.mark.parametrize("tier_map", ["Smile=AU12,Brows up=AU1", "@map.txt"])
def test_import_labels_reads_elan_tiers_through_the_tier_map(tmp_path, capsys, tier_map):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    _register(url, "clip", 30)  # no video file: 30 fps timing, frame k at k/30 s
    (tmp_path / "labels").mkdir()
    lab_elan(tmp_path / "labels" / "clip.eaf",
              {"Smile": [(0, 500)], "Brows up": [], "Notes": [(0, 900)]})
    (tmp_path / "map.txt").write_text("# our lab's tier names\nSmile = AU 12\nbrows up=AU01\n")
    tier_map = tier_map.replace("@", f"@{tmp_path}/")
    assert main(["import-labels", str(tmp_path / "labels"), "--coder", "ann",
                 "--tier-map", tier_map, "--db", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "clip.eaf: tier 'Smile' → AU12: 1 annotations, 15 frames",
        "clip.eaf: tier 'Brows up' → AU1: 0 annotations, 0 frames",
        "clip.eaf: tier 'Notes' → skipped (not an AU name; map it with --tier-map): "
        "1 annotations, 0 frames",
        "imported 1 label files for 1 videos as coder ann",
    ]
    assert main(["export", "--format", "affwild2", "--out", str(tmp_path / "out"),
                 "--db", url]) == 0
    lines = (tmp_path / "out" / "clip.txt").read_text().splitlines()
    assert lines[1:] == ["0,-1,-1,-1,1,-1,-1,-1"] * 15 + ["0,-1,-1,-1,0,-1,-1,-1"] * 15


def test_a_tier_map_entry_that_is_not_name_equals_au_is_one_line_on_stderr(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    (tmp_path / "labels").mkdir()
    status = main(["import-labels", str(tmp_path / "labels"), "--coder", "ann",
                   "--tier-map", "Smile=happy", "--db", url])
    assert status == 2
    assert capsys.readouterr().err.strip().endswith(
        "--tier-map: tier map entry 'Smile=happy' is not NAME=AU (Smile=AU12)")


@pytest.mark.parametrize("file_format, suffix", [("elan", ".eaf"), ("boris", ".boris")])
def test_export_writes_elan_and_boris_files(tmp_path, capsys, file_format, suffix):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    _register(url, "clip", 3)
    out = tmp_path / "out"
    assert main(["export", "--format", file_format, "--out", str(out), "--db", url]) == 0
    assert capsys.readouterr().out.strip() == str(out / f"clip{suffix}")


def test_export_of_two_videos_with_the_same_name_writes_both(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    with db.open_database(url).begin() as session:
        for folder, value in (("one", 1), ("two", 0)):
            video = db.register_video(
                session, content_hash=hashlib.sha256(folder.encode()).hexdigest(),
                path=f"/{folder}/clip.mp4", fps=30, frame_count=3, width=64, height=64)
            db.correct(session, video, "ann", "AU1", 0, 2, value)
    out = tmp_path / "out"
    assert main(["export", "--all", "--format", "affwild2", "--out", str(out), "--db", url]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "clip.txt"), str(out / "clip-video2.txt")]
    assert (out / "clip.txt").read_text().splitlines()[1].startswith("1,")
    assert (out / "clip-video2.txt").read_text().splitlines()[1].startswith("0,")
