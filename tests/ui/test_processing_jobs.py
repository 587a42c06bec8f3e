"""Background processing: progress in the jobs table, failures shown, re-opening instant."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from helpers.polling import poll_until

import db
from annotator.jobs import (
    job_status,
    processed_video_id,
    progress_message,
    start_processing,
)
from annotator.services import Services
from db.tables import Job, utc_now


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'annotations.sqlite3'}"


def wait(url: str, job_id: int, limit_s: float = 120):
    services = Services.open(url)
    return poll_until(lambda: job_status(services, job_id), lambda status: status.finished,
                      limit_s, 0.2, f"job {job_id} finishing")


def test_progress_says_frames_speed_and_time_left():
    assert progress_message(120, 480, 2.0) == "frame 120 of 480 · 60 frames/s · 6 s left"
    assert progress_message(0, 480, 0.0) == "frame 0 of 480 · 0 frames/s"


def test_a_processed_video_is_stored_and_reopens_without_processing(url, single_face):
    status = wait(url, start_processing(Services.open(url), single_face))
    assert status.state == "done" and status.progress == 1.0
    assert processed_video_id(Services.open(url), single_face) == status.video_id
    again = wait(url, start_processing(Services.open(url), single_face), limit_s=10)
    assert again.video_id == status.video_id
    assert again.message == "single_face.mp4: already processed"


def test_a_file_that_is_not_a_video_fails_the_job_with_its_name(url, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    status = wait(url, start_processing(Services.open(url), fake))
    assert status.state == "failed"
    assert str(fake) in status.message and "\n" not in status.message


def test_an_upload_the_job_cannot_read_is_named_as_uploaded_and_deleted(url, tmp_path):
    upload = tmp_path / "uploads" / "0123456789abcdef" / "notes.mp4"
    upload.parent.mkdir(parents=True)
    upload.write_text("not a video")
    status = wait(url, start_processing(Services.open(url), upload, upload_name="my notes.mp4"))
    assert status.state == "failed"
    assert status.message.startswith("my notes.mp4: not a readable video")
    assert str(tmp_path) not in status.message
    assert not any((tmp_path / "uploads").iterdir())


def test_a_job_whose_server_stopped_is_reported_interrupted(url):
    with db.open_database(url).begin() as session:
        job = db.create_job(session, "process")
        db.start_job(session, job.id, "frame 10 of 100")
        job.heartbeat_at = utc_now() - timedelta(minutes=5)
        job_id = job.id
    status = job_status(Services.open(url), job_id)
    assert status.state == "failed" and status.message.startswith("interrupted")
    with db.open_database(url).begin() as session:
        assert session.get(Job, job_id).state == "failed"


def test_a_job_whose_process_was_killed_fails_at_once(url):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with db.open_database(url).begin() as session:
        job = db.create_job(session, "process")
        db.start_job(session, job.id, "frame 10 of 100", host=socket.gethostname(), pid=gone.pid)
        job_id = job.id
    status = job_status(Services.open(url), job_id)
    assert status.state == "failed" and status.message.startswith("interrupted")


def test_a_job_with_a_fresh_heartbeat_keeps_running(url):
    with db.open_database(url).begin() as session:
        job = db.create_job(session, "process")
        db.start_job(session, job.id, "frame 10 of 100", host=socket.gethostname(),
                     pid=os.getpid())
        job_id = job.id
    assert job_status(Services.open(url), job_id).state == "running"
