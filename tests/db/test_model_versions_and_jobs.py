"""Model versions (one active, rollback by row update) and job progress."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

import db


def test_activating_a_version_deactivates_the_others_and_rollback_works(sessions):
    with sessions.begin() as session:
        first = db.add_model_version(session, "/models/v1.safetensors", "abaw2020")
        second = db.add_model_version(
            session, "/models/v2.safetensors", "abaw2020", {"abaw2020": 0.6}, parent_id=first.id
        )
        db.activate_model_version(session, first.id)
        db.activate_model_version(session, second.id)
        assert db.active_model_version(session).id == second.id
        db.activate_model_version(session, first.id)  # roll back
        assert db.active_model_version(session).id == first.id
        assert second.parent.id == first.id and second.metrics == {"abaw2020": 0.6}


def test_the_database_itself_refuses_two_active_versions(sessions):
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            session.add(db.ModelVersion(path="a", au_set="abaw2020", active=True))
            session.add(db.ModelVersion(path="b", au_set="abaw2020", active=True))


def test_job_progress_is_visible_to_other_sessions(sessions, make_video):
    with sessions.begin() as session:
        job = db.create_job(session, "process", make_video(session).id)
    with sessions.begin() as session:
        db.start_job(session, job.id, "landmarks")
        db.report_progress(session, job.id, 0.25, "landmarks 25%")
    with sessions.begin() as session:
        seen = db.recent_jobs(session)[0]
        assert (seen.state, seen.progress, seen.message) == ("running", 0.25, "landmarks 25%")
        db.finish_job(session, job.id)
    with sessions.begin() as session:
        done = db.recent_jobs(session)[0]
        assert done.state == "done" and done.finished_at >= done.started_at
