"""The "Model" panel of the real app script, driven by Streamlit's AppTest: the active
predictor, a refused fine-tune, a background fine-tune cancelled, and a finished version's
comparison activated and rolled back.

Databases come from the fine-tuning tests' set-up (synthetic clips made from the demo clip,
processed, some imported as a coder's corrections); the version is made by the real job.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
import streamlit as st
from helpers import polling
from helpers.finetuning import (
    CODER,
    TINY_NETWORK,
    database_with_corrections,
    synthetic_dataset,
    video_ids,
)
from streamlit.testing.v1 import AppTest

import db
from annotator.jobs.finetune_launch import create_finetune_job, finetune_status
from annotator.jobs.finetune_process import run_job
from annotator.learning.finetune_options import FinetuneOptions
from annotator.learning.model_versions import compare_versions
from annotator.services import Services, actions
from annotator.ui import sign_in

pytestmark = pytest.mark.slow  # fine-tunes on the synthetic set

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"
WAIT_S = 90


@pytest.fixture(scope="module")
def clips(demo_video) -> tuple[Path, list[str]]:
    dataset = synthetic_dataset(demo_video)
    return dataset, sorted(p.stem for p in (dataset / "videos").glob("*.mp4"))


def store(tmp_path, clips, corrected: int, monkeypatch) -> str:
    """A database whose first `corrected` clips carry the coder's reviewed labels; the app
    opens it (its settings are a cached resource, so the cache is cleared for each one)."""
    dataset, names = clips
    url = database_with_corrections(tmp_path, dataset, corrected=names[:corrected])
    monkeypatch.setenv("AU_ANNOTATOR_DB", url)
    st.cache_resource.clear()
    return url


@pytest.fixture(autouse=True)
def _forget_cached_settings():
    yield
    st.cache_resource.clear()  # the next module's app must not open this test's database


def account_token(url: str, admin: bool) -> str:
    """A sign-in of CODER's account, an administrator or not (the page reads the role from the
    database at every run)."""
    with db.open_database(url).begin() as session:
        if db.coder_named(session, CODER).password_hash is None:
            db.add_account(session, CODER, "a long password")
        db.set_admin(session, CODER, admin)
    return actions.start_sign_in(Services.open(url), CODER, "account", 1)[0]


def model_panel(url: str, admin: bool = True) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state[sign_in.TOKEN_KEY] = account_token(url, admin)
    app.query_params.update(video=str(min(video_ids(url).values())))
    app.run()
    app.radio(key="panel").set_value("Model").run()
    assert not app.exception, app.exception
    return app


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def texts(app: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "success", "error", "info", "caption")
                     for e in app.get(kind))


def rerun_until(app: AppTest, done) -> AppTest:
    return polling.rerun_until(app, done, WAIT_S, 0.3, texts)


def active_version_id(url: str) -> int | None:
    with db.open_database(url).begin() as session:
        active = db.active_model_version(session)
        return None if active is None else active.id


def test_the_geometry_baseline_is_shown_as_the_active_predictor(tmp_path, clips, monkeypatch):
    app = model_panel(store(tmp_path, clips, 1, monkeypatch))
    assert "**Active predictor:** geometry + expression baseline" in texts(app)
    assert not button(app, "Fine-tune").proto.disabled
    assert not app.dataframe  # no versions yet: nothing to compare, activate or roll back


def test_a_finetune_with_one_reviewed_video_is_refused_without_a_job(tmp_path, clips,
                                                                      monkeypatch):
    url = store(tmp_path, clips, 1, monkeypatch)
    app = model_panel(url)
    button(app, "Fine-tune").click().run()
    assert [e.value for e in app.error] == [
        "Fine-tune not started: reviewed frames were found in 1 video(s); fine-tuning needs at "
        "least two: one to train on and one held out to measure the new model"]
    assert finetune_status(Services.open(url)) is None


def stop_job_processes(url: str) -> None:
    """Kill what is left of the jobs' processes of `url`: a failed wait must not leave a
    200-epoch fine-tune running beside the rest of the suite."""
    with db.open_database(url).begin() as session:
        pids = [job.pid for job in db.recent_jobs(session)
                if job.pid and job.state in ("queued", "running")]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def test_a_running_finetune_shows_progress_and_can_be_cancelled(tmp_path, clips, monkeypatch):
    url = store(tmp_path, clips, 4, monkeypatch)
    try:
        cancel_a_running_finetune(url)
    finally:
        stop_job_processes(url)


def cancel_a_running_finetune(url: str) -> None:
    app = model_panel(url)
    app.number_input(key="finetune_epochs").set_value(200)
    button(app, "Fine-tune").click().run()
    assert button(app, "Fine-tune").proto.disabled  # one fine-tune at a time
    # distilling the new network from the baseline comes first: slow beside other tests
    polling.rerun_until(app, lambda a: "epoch" in " ".join(p.proto.text for p in a.get("progress")),
                        3 * WAIT_S, 0.5, texts)
    button(app, "Cancel the fine-tune").click().run()
    rerun_until(app, lambda a: bool(a.info))
    assert "cancelled; the active model and the labels are as they were" in app.info[0].value
    assert not button(app, "Fine-tune").proto.disabled
    assert active_version_id(url) is None and not db_versions(url)


def db_versions(url: str) -> list[int]:
    with db.open_database(url).begin() as session:
        return [v.id for v in db.list_model_versions(session)]


def finished_version(tmp_path, clips, monkeypatch, new_minus_parent: float) -> tuple[str, int]:
    """A version made by the real fine-tune job, its held-out score then set `new_minus_parent`
    away from its parent's (what decides whether it may be activated unforced)."""
    url = store(tmp_path, clips, 4, monkeypatch)
    options = FinetuneOptions(epochs=1, batch_size=16, network=TINY_NETWORK, distil_epochs=1)
    services = Services.open(url)
    version = run_job(services, create_finetune_job(services, options)).details.version_id
    with db.open_database(url).begin() as session:
        row = db.get_model_version(session, version)
        metrics = dict(row.metrics)
        metrics["new"] = {**metrics["new"],
                          "score": metrics["parent"]["score"] + new_minus_parent}
        row.metrics = metrics
    return url, version


def test_a_finished_version_is_compared_activated_and_rolled_back(tmp_path, clips,
                                                                   monkeypatch):
    url, version = finished_version(tmp_path, clips, monkeypatch, 0.0)  # as good as its parent
    comparison = compare_versions(Services.open(url), version)

    app = model_panel(url)
    table = app.dataframe[0].value  # the comparison: new version against its parent
    assert list(table.columns) == [f"version {version}", "geometry + expression baseline"]
    assert table.loc["ABAW 2020"].tolist() == pytest.approx(
        [comparison.new["abaw2020"], comparison.parent["abaw2020"]])
    assert table.loc["F1 AU12"].tolist() == pytest.approx(
        [comparison.new["per_au_f1"]["AU12"], comparison.parent["per_au_f1"]["AU12"]])
    assert f"Held out: {len(comparison.held_out_videos)} video(s)" in texts(app)

    button(app, "Activate this version").click().run()
    rerun_until(app, lambda a: bool(a.success) and "Now active" in texts(a))
    assert f"Now active: version {version}." in texts(app)
    assert (f"**Active predictor:** version {version}, fine-tuned from geometry + expression "
            "baseline") in texts(app)
    assert active_version_id(url) == version

    button(app, "Roll back").click().run()
    rerun_until(app, lambda a: "Now active: geometry + expression baseline." in texts(a))
    assert "**Active predictor:** geometry + expression baseline" in texts(app)
    assert active_version_id(url) is None


def test_a_version_below_its_parent_is_activated_only_when_the_coder_insists(tmp_path, clips,
                                                                             monkeypatch):
    url, version = finished_version(tmp_path, clips, monkeypatch, -0.05)
    app = model_panel(url)
    assert any(f"version {version} scores" in e.value and "below its parent" in e.value
               for e in app.error)
    assert button(app, "Activate this version").proto.disabled
    app.checkbox(key=f"force_{version}").check().run()
    button(app, "Activate this version").click().run()
    rerun_until(app, lambda a: "Now active" in texts(a))
    assert active_version_id(url) == version


def test_only_an_administrator_activates_or_rolls_back(tmp_path, clips, monkeypatch):
    url, version = finished_version(tmp_path, clips, monkeypatch, 0.0)
    app = model_panel(url, admin=False)
    assert button(app, "Activate this version").proto.disabled
    assert button(app, "Roll back").proto.disabled
    assert "administrators only" in texts(app)
    assert not button(model_panel(url, admin=True), "Activate this version").proto.disabled
