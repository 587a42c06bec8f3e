"""kill -9 in the middle of long work: the app server (or any process running jobs) while it
processes a video, and a fine-tune while a coder keeps correcting. Nothing committed is lost,
the job is closed as failed once anyone looks, and the next job of the same kind starts and
finishes: a dead job never stands in for a new one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.app_server import running_app
from helpers.browser import new_page, start_coding
from helpers.finetuning import (
    database_with_corrections,
    register_network,
    store_snapshot,
    synthetic_dataset,
    video_ids,
    wait_for,
)
from helpers.polling import poll_until
from sqlalchemy import create_engine, func, select

import db
from annotator.jobs import PROCESS, job_status, processed_video_id, start_processing
from annotator.jobs.finetune_launch import cancel_finetune, start_finetune, work_folder
from annotator.learning.finetune_options import FinetuneOptions
from annotator.processing.prediction import process_video
from annotator.services import Services, actions

pytestmark = pytest.mark.slow  # fault tests: processes killed mid-way

REPO = Path(__file__).resolve().parents[2]
WRITER = REPO / "tests" / "db" / "correction_writer.py"
LONG = FinetuneOptions(epochs=500, batch_size=8)  # far longer than the test waits
# A process that runs jobs as the app server does (annotator.jobs, a thread per job), and then
# only waits: killing it is killing the server mid-job.
JOB_RUNNER = """
import sys, time
from annotator.jobs import start_processing
from annotator.services import Services
print(start_processing(Services.open(sys.argv[1]), sys.argv[2]), flush=True)
time.sleep(600)
"""
TIMEOUT_S = 120


def stored_labels(url: str, video_id: int, coder: str) -> tuple:
    """A coder's effective labels and the video's history: what must survive a crash."""
    state = actions.review_state(Services.open(url), video_id, coder)
    history = actions.history_table(Services.open(url), video_id)
    return state.labels.tobytes(), state.reviewed.tobytes(), history.to_csv()


def coded_video(url: str, clip: Path) -> int:
    """`clip` processed, with two corrections of Alice committed; its id."""
    process_video(clip, Services.open(url))
    video_id = processed_video_id(Services.open(url), clip)
    actions.set_label(Services.open(url), video_id, "alice", ("AU12",), 0, 20, 1)
    actions.set_label(Services.open(url), video_id, "alice", ("AU4", "AU6"), 30, 40, 0)
    return video_id


def job_row(url: str, job_id: int) -> db.Job:
    """The job as stored, without the liveness check job_status makes."""
    with db.open_database(url, read_only=True).begin() as session:
        return db.get_job(session, job_id)


def wait_until_working(url: str, job_id: int | None = None) -> db.Job:
    """The processing job (the newest, when no id is given) once it has reported progress."""
    def stored_job() -> db.Job | None:
        with db.open_database(url, read_only=True).begin() as session:
            job = db.get_job(session, job_id) if job_id else db.latest_job(session, PROCESS)
        assert job is None or job.state in ("queued", "running"), (job.state, job.message)
        return job

    def working(job: db.Job | None) -> bool:
        return job is not None and job.state == "running" and 0 < job.progress < 1

    return poll_until(stored_job, working, TIMEOUT_S, 0.05, "the processing job getting under way")


def wait_until_finished(url: str, job_id: int):
    services = Services.open(url)
    return poll_until(lambda: job_status(services, job_id), lambda status: status.finished,
                      TIMEOUT_S, 0.2, f"job {job_id} finishing")


def integrity(url: str) -> str:
    engine = create_engine(url)  # fresh connections, as a restarted program opens
    with engine.connect() as connection:
        found = connection.exec_driver_sql("PRAGMA integrity_check").scalar()
    engine.dispose()
    return found


def test_a_job_whose_process_was_killed_is_failed_and_the_next_request_starts_afresh(
    tmp_path, single_face, demo_video
):
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    video_id = coded_video(url, single_face)
    committed = stored_labels(url, video_id, "alice")
    # the runner finds the demo's landmarks afresh, so its job is still at work when killed
    env = {**os.environ, "AU_ANNOTATOR_CACHE": str(tmp_path / "runner-cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    runner = subprocess.Popen([sys.executable, "-c", JOB_RUNNER, url, str(demo_video)],
                              stdout=subprocess.PIPE, text=True, env=env)
    killed_job = int(runner.stdout.readline())
    assert wait_until_working(url, killed_job).pid == runner.pid

    runner.send_signal(signal.SIGKILL)
    runner.wait()

    assert job_row(url, killed_job).state == "running"  # nobody has looked yet
    assert integrity(url) == "ok"
    assert stored_labels(url, video_id, "alice") == committed
    assert processed_video_id(Services.open(url), demo_video) is None  # nothing half-stored
    # asking again for the same video starts a new job, which finishes
    new_job = start_processing(Services.open(url), demo_video)
    assert new_job != killed_job
    assert wait_until_finished(url, new_job).state == "done"
    assert processed_video_id(Services.open(url), demo_video) is not None
    old = job_status(Services.open(url), killed_job)
    assert old.state == "failed" and old.message.startswith("interrupted")


TIMELINE = ".st-key-timeline .nsewdrag"  # drawn once a video is processed and open


def open_demo_in_browser(browser, address: str):
    """A coder's page (in a fresh profile): named, the demo clip asked for."""
    page = new_page(browser)
    page.set_default_timeout(TIMEOUT_S * 1000)
    page.goto(address)
    start_coding(page, "bob")
    page.get_by_role("button", name="Open the demo clip").click()
    return page


def test_killing_the_app_server_mid_job_loses_nothing_and_a_restarted_app_processes_the_video(
    tmp_path, single_face, demo_video, monkeypatch, browser
):
    database = tmp_path / "annotations.sqlite3"
    url = f"sqlite:///{database}"
    video_id = coded_video(url, single_face)
    committed = stored_labels(url, video_id, "alice")
    # the server finds the demo's landmarks afresh, so its job is at work when it is killed
    monkeypatch.setenv("AU_ANNOTATOR_CACHE", str(tmp_path / "server-cache"))

    with running_app(database, "--address", "127.0.0.1") as (address, server):
        page = open_demo_in_browser(browser, address)
        job = wait_until_working(url)
        assert job.pid == server.pid  # the job runs inside the server
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        page.context.close()

    assert integrity(url) == "ok"
    assert stored_labels(url, video_id, "alice") == committed
    assert processed_video_id(Services.open(url), demo_video) is None
    with running_app(database, "--address", "127.0.0.1") as (address, _):
        page = open_demo_in_browser(browser, address)
        page.locator(TIMELINE).wait_for()  # processed this time: the review page is drawn
        page.context.close()
    assert processed_video_id(Services.open(url), demo_video) is not None
    old = job_status(Services.open(url), job.id)
    assert old.state == "failed" and old.message.startswith("interrupted")
    assert stored_labels(url, video_id, "alice") == committed


def _writer(url: str, video_id: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, str(WRITER), url, str(video_id), "carol", "100000"],
                            stdout=subprocess.PIPE, text=True, env=env)


def _committed_until(writer: subprocess.Popen, lines: list[str], count: int) -> None:
    while sum(line.startswith("committed") for line in lines) < count:
        line = writer.stdout.readline()
        assert line, "the correction writer stopped"
        lines.append(line)


def _training(status) -> bool:
    return status.finished or status.progress > 0


def test_a_finetune_killed_mid_way_while_a_coder_corrects_loses_no_correction(
    tmp_path, demo_video
):
    dataset = synthetic_dataset(demo_video)
    names = sorted(p.stem for p in (dataset / "videos").glob("*.mp4"))
    url = database_with_corrections(tmp_path, dataset, corrected=names[:3])
    register_network(url, tmp_path)
    models = Services.open(url).models_folder
    before = store_snapshot(url, models)
    job = start_finetune(Services.open(url), LONG)
    wait_for(url, job, _training)
    writer, lines = _writer(url, video_ids(url)[names[-1]]), []
    _committed_until(writer, lines, 20)

    os.kill(job_row(url, job).pid, signal.SIGKILL)  # mid-way: training, the coder at work

    _committed_until(writer, lines, 40)  # the coder goes on after the crash
    writer.kill()
    lines.extend(writer.stdout.read().splitlines())
    writer.wait()
    ended = wait_for(url, job, lambda s: s.finished, timeout_s=30)
    assert ended.state == "failed" and "stopped unexpectedly" in ended.message
    committed = {int(line.split()[1]) for line in lines if line.startswith("committed")}
    with db.open_database(url, read_only=True).begin() as session:
        carol = db.coder_named(session, "carol").id
        stored = dict(session.execute(
            select(db.Edit.id, func.count(db.Correction.id))
            .join(db.Correction, db.Correction.edit_id == db.Edit.id)
            .where(db.Edit.coder_id == carol).group_by(db.Edit.id)).all())
    assert committed <= set(stored) and set(stored.values()) == {3}  # whole edits, all kept
    after = store_snapshot(url, models)
    assert {k: after[k] for k in ("ModelVersion", "PredictionRun", "active", "model_files")} == \
        {k: before[k] for k in ("ModelVersion", "PredictionRun", "active", "model_files")}
    assert after["Edit"] == before["Edit"] + len(stored)  # nothing else came or went
    assert not work_folder(Services.open(url), job).exists()
    # the next fine-tune starts (and is cancelled: finishing it is another test's business)
    again = start_finetune(Services.open(url), LONG)
    assert again != job and wait_for(url, again, _training).state == "running"
    cancel_finetune(Services.open(url), again)
    assert wait_for(url, again, lambda s: s.finished).state == "cancelled"
