"""Fixtures for the annotation store: a fresh SQLite file per test, and (when the `postgresql`
Debian package is installed) a throwaway PostgreSQL server for the whole session."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import db
from model.formats import au_names


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'annotations.sqlite3'}"


@pytest.fixture
def sessions(sqlite_url):
    return db.open_database(sqlite_url)


@pytest.fixture
def make_video():
    """make_video(session, name, frames): register a video (plain values, as the pipeline does)."""
    return _add_video


@pytest.fixture
def make_run():
    """make_run(session, video, probabilities, au_set, threshold, window): store a run."""
    return _add_run


def _add_video(session, name="clip", frames=300, fps=30.0) -> db.Video:
    return db.register_video(
        session,
        content_hash=f"{name}-{frames}".encode().hex().ljust(64, "0")[:64],
        path=f"/videos/{name}.mp4",
        fps=fps,
        frame_count=frames,
        width=640,
        height=360,
    )


def _add_run(session, video, probabilities, au_set="abaw2020", threshold=0.5, window=1):
    parameters = db.PredictionParameters(
        au_set, {au: threshold for au in au_names(au_set)}, window, predictor="geometry-baseline"
    )
    return db.store_prediction_run(session, video, np.asarray(probabilities), parameters)


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgresql_url():
    """URL of a PostgreSQL server started for this test session (initdb in a temp folder)."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg (PostgreSQL driver) not installed")
    # initdb refuses to run as root: run the server as the `postgres` system user then
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="au-annotator-pg-"))
    data, log = root / "data", root / "server.log"
    if as_user:
        shutil.chown(root, "postgres")
    port = _free_port()
    try:
        subprocess.run(
            [
                *as_user,
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
        subprocess.run(
            [
                *as_user,
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {error.stderr.decode(errors='replace')}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
