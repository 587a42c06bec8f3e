"""`au-annotator app`: starts the Streamlit server on the chosen database and prints its URL."""

from __future__ import annotations

import argparse
import socket
import urllib.request

import pytest
from helpers.app_server import running_app

from annotator.cli import main
from annotator.commands.app import SERVER_FILE, streamlit_command


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
    args = argparse.Namespace(db=str(tmp_path / "a.sqlite3"), port=8600, address="0.0.0.0",
                              allowed_host=["annotator.lab.example"], videos=tmp_path,
                              max_upload_mb=300, sign_in_hours=4.5)
    command, env = streamlit_command(args, headless=True)
    hosts = [command[i + 1] for i, flag in enumerate(command) if flag == "--server.allowedHosts"]
    assert hosts == ["localhost", "127.0.0.1", "annotator.lab.example"]
    assert command[1:5] == ["-m", "streamlit", "run", str(SERVER_FILE)]
    assert command[command.index("--server.maxUploadSize") + 1] == "300"
    assert command[command.index("--server.headless") + 1] == "true"
    assert env["AU_ANNOTATOR_DB"] == f"sqlite:///{tmp_path / 'a.sqlite3'}"
    assert env["AU_ANNOTATOR_MAX_UPLOAD_MB"] == "300"
    assert env["AU_ANNOTATOR_VIDEO_DIR"] == str(tmp_path)
    assert env["AU_ANNOTATOR_SIGN_IN_HOURS"] == "4.5"


def test_app_with_a_missing_video_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["app", "--db", str(tmp_path / "a.sqlite3"), "--videos",
                 str(tmp_path / "absent")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "absent: no such folder" in error


def _websocket_status(port: int, host: str) -> str:
    """The status line the server answers a WebSocket upgrade with, sent as from `host`."""
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Origin: http://{host}:{port}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request.encode())
        return connection.recv(1024).decode(errors="replace").split("\r\n")[0]


def test_the_app_answers_only_the_host_names_it_serves(tmp_path):
    with running_app(tmp_path / "annotations.sqlite3") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        assert " 101 " in _websocket_status(port, "localhost")
        assert " 101 " in _websocket_status(port, "127.0.0.1")
        # a page on another name (DNS rebinding) cannot open the app's connection
        assert " 403 " in _websocket_status(port, "attacker.example")


def test_stopping_the_app_command_stops_its_server(tmp_path):
    with running_app(tmp_path / "annotations.sqlite3") as (url, process):
        process.terminate()  # SIGTERM to the command's own process, not its group
        assert process.wait(timeout=20) is not None
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
