"""Several processes on one SQLite file: crashes lose nothing committed, writers never clash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select

import db
from db.tables import Correction, Edit

WRITER = Path(__file__).with_name("correction_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _writer(url, video_id, coder, count, start_file=None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    arguments = [sys.executable, str(WRITER), url, str(video_id), coder, str(count)]
    if start_file:
        arguments.append(str(start_file))
    return subprocess.Popen(arguments, stdout=subprocess.PIPE, text=True, env=env)


def _committed(lines) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("committed")]


def test_killing_a_writer_mid_burst_keeps_every_committed_correction(
    sqlite_url, sessions, make_video
):
    with sessions.begin() as session:
        video_id = make_video(session, frames=1000).id
    writer = _writer(sqlite_url, video_id, "alice", 100_000)
    lines = []
    while len(_committed(lines)) < 40:
        lines.append(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    lines.extend(writer.stdout.read().splitlines())
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    committed = _committed(lines)

    # fresh connections, as a restarted program would open
    restarted = create_engine(sqlite_url)
    with restarted.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        stored = set(connection.scalars(select(Edit.id)))
        corrections_per_edit = dict(
            connection.execute(
                select(Correction.edit_id, func.count()).group_by(Correction.edit_id)
            ).all()
        )
    restarted.dispose()
    assert set(committed) <= stored
    # an edit is all or nothing: never one without its three intervals
    assert all(corrections_per_edit.get(edit_id) == 3 for edit_id in stored)


def test_two_processes_writing_one_video_keep_all_corrections_with_their_coders(
    sqlite_url, sessions, make_video, tmp_path
):
    with sessions.begin() as session:
        video_id = make_video(session, frames=1000).id
    start = tmp_path / "start"
    writers = {coder: _writer(sqlite_url, video_id, coder, 60, start) for coder in ("alice", "bob")}
    for writer in writers.values():
        assert writer.stdout.readline().strip() == "ready"
    start.touch()
    outputs = {coder: writer.communicate(timeout=120)[0] for coder, writer in writers.items()}
    assert all(writer.returncode == 0 for writer in writers.values())
    with sessions.begin() as session:
        for coder, output in outputs.items():
            reported = _committed(output.splitlines())
            coder_id = db.coder_named(session, coder).id
            stored = session.scalars(select(Edit.id).where(Edit.coder_id == coder_id)).all()
            assert sorted(stored) == sorted(reported) and len(reported) == 60


def test_a_page_reading_does_not_hold_up_a_writer(sqlite_url, sessions, make_video):
    import threading
    import time

    with sessions.begin() as session:
        video_id = make_video(session, frames=100).id
    reading = threading.Event()
    release = threading.Event()

    def slow_page() -> None:  # a page holding its read transaction open
        with db.open_database(sqlite_url, read_only=True).begin() as session:
            db.effective_labels(session, db.get_video(session, video_id), "alice")
            reading.set()
            release.wait(10)

    page = threading.Thread(target=slow_page)
    page.start()
    assert reading.wait(10)
    started = time.monotonic()
    with sessions.begin() as session:
        db.correct(session, db.get_video(session, video_id), "alice", "AU1", 0, 9, 1)
    waited = time.monotonic() - started
    release.set()
    page.join()
    assert waited < 2.0  # with a write lock taken by the read, it would wait the full 10 s
