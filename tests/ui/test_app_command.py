"""`au-annotator app`: starts the Streamlit server on the chosen database and prints its URL."""

from __future__ import annotations

import argparse
import urllib.request

from app_server import running_app

from annotator.cli import main
from annotator.commands.app import APP_FILE, streamlit_command


def test_app_serves_the_page_and_prints_its_address(tmp_path):
    with running_app(tmp_path / "annotations.sqlite3") as (url, process):
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            assert b"<html" in response.read().lower()
        first_line = process.stdout.readline()
    port = url.rsplit(":", 1)[1]
    assert first_line.startswith(f"au-annotator app: http://localhost:{port}")
    assert str(tmp_path / "annotations.sqlite3") in first_line


def test_app_passes_database_and_upload_limit_to_streamlit(tmp_path):
    args = argparse.Namespace(db=str(tmp_path / "a.sqlite3"), port=8600, address="localhost",
                              videos=tmp_path, max_upload_mb=300)
    command, env = streamlit_command(args, headless=True)
    assert command[1:5] == ["-m", "streamlit", "run", str(APP_FILE)]
    assert command[command.index("--server.maxUploadSize") + 1] == "300"
    assert command[command.index("--server.headless") + 1] == "true"
    assert env["AU_ANNOTATOR_DB"] == f"sqlite:///{tmp_path / 'a.sqlite3'}"
    assert env["AU_ANNOTATOR_MAX_UPLOAD_MB"] == "300"
    assert env["AU_ANNOTATOR_VIDEO_DIR"] == str(tmp_path)


def test_app_with_a_missing_video_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["app", "--db", str(tmp_path / "a.sqlite3"), "--videos",
                 str(tmp_path / "absent")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "absent: no such folder" in error
