"""Jobs: cancel requests, the "cancelled" state, liveness (process and heartbeat), and the
database's own refusal of a second active fine-tune."""

from __future__ import annotations

import pytest

import db


def test_the_database_refuses_a_second_active_finetune_but_not_other_jobs(sessions):
    with sessions.begin() as session:
        first = db.create_job(session, "finetune")
        db.create_job(session, "process")
        db.create_job(session, "process")  # processing jobs may queue up side by side
    with pytest.raises(db.JobBusy):
        with sessions.begin() as session:
            db.create_job(session, "finetune")
    with sessions.begin() as session:
        db.start_job(session, first.id)
        db.finish_job(session, first.id)
    with sessions.begin() as session:  # a finished fine-tune no longer blocks the next
        assert db.create_job(session, "finetune").state == "queued"


def test_a_cancel_request_is_a_flag_until_the_jobs_process_ends_it_as_cancelled(sessions):
    with sessions.begin() as session:
        job = db.create_job(session, "finetune")
        db.start_job(session, job.id, "training", host="machine", pid=1234)
    with sessions.begin() as session:
        seen = db.request_cancel(session, job.id)
        assert (seen.state, seen.cancel_requested) == ("running", True)
    with sessions.begin() as session:
        assert db.beat(session, job.id).cancel_requested  # what the job's process polls
        db.cancel_job(session, job.id, "cancelled by the coder")
    with sessions.begin() as session:
        ended = db.recent_jobs(session)[0]
        assert ended.state == "cancelled" and ended.finished_at >= ended.started_at
        assert db.active_jobs(session, "finetune") == []
        db.request_cancel(session, job.id)  # too late: nothing changes
        assert ended.state == "cancelled"


def test_starting_and_beating_record_the_process_and_its_last_sign_of_life(sessions):
    with sessions.begin() as session:
        job = db.create_job(session, "finetune")
        assert (job.pid, job.heartbeat_at, job.cancel_requested) == (None, None, False)
    with sessions.begin() as session:
        started = db.start_job(session, job.id, host="machine", pid=4321)
        first_beat = started.heartbeat_at
    with sessions.begin() as session:
        later = db.beat(session, job.id)
        assert (later.host, later.pid) == ("machine", 4321)
        assert later.heartbeat_at >= first_beat
