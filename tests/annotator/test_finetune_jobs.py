"""The fine-tune job: one at a time, in its own process; a cancel or a killed process leaves
the active model, the model versions and the labels exactly as they were."""

from __future__ import annotations

import os
import re
import signal

import pytest
from helpers.finetuning import (
    database_with_corrections,
    register_network,
    store_snapshot,
    synthetic_dataset,
    wait_for,
)

import db
from annotator.cli import main
from annotator.jobs.finetune_launch import (
    cancel_finetune,
    finetune_status,
    start_finetune,
    work_folder,
)
from annotator.learning.finetune_options import FinetuneBusy, FinetuneOptions
from annotator.services import Services

pytestmark = pytest.mark.slow  # fine-tunes on the synthetic set

# far more epochs than a test waits for: the job is stopped while it trains
LONG = FinetuneOptions(epochs=500, batch_size=8)


@pytest.fixture
def store(tmp_path, demo_video):
    """Three corrected clips and an active (parent) network version."""
    dataset = synthetic_dataset(demo_video)
    names = sorted(p.stem for p in (dataset / "videos").glob("*.mp4"))
    url = database_with_corrections(tmp_path, dataset, corrected=names[:3])
    register_network(url, tmp_path)
    return url


def _training(status) -> bool:
    return status.finished or status.progress > 0


def test_a_second_finetune_is_refused_while_one_runs_and_cancel_changes_nothing(
    store, tmp_path, capsys
):
    before = store_snapshot(store, Services.open(store).models_folder)
    job = start_finetune(Services.open(store), LONG)
    assert wait_for(store, job, _training).state == "running"

    with pytest.raises(FinetuneBusy, match=f"already running \\(job {job}"):
        start_finetune(Services.open(store), LONG)
    assert main(["finetune", "--db", store, "--epochs", "1"]) == 2
    assert "error: a fine-tune is already running" in capsys.readouterr().err

    cancel_finetune(Services.open(store), job)
    ended = wait_for(store, job, lambda s: s.finished)
    assert ended.state == "cancelled" and "as they were" in ended.message
    assert store_snapshot(store, Services.open(store).models_folder) == before
    assert not work_folder(Services.open(store), job).exists()


def test_a_killed_worker_leaves_everything_as_it_was_and_a_new_finetune_may_start(
    store, capsys
):
    before = store_snapshot(store, Services.open(store).models_folder)
    job = start_finetune(Services.open(store), LONG)
    wait_for(store, job, _training)
    with db.open_database(store).begin() as session:
        pid = session.get(db.Job, job).pid

    os.kill(pid, signal.SIGKILL)

    ended = wait_for(store, job, lambda s: s.finished, timeout_s=30)
    assert ended.state == "failed" and "stopped unexpectedly" in ended.message
    assert store_snapshot(store, Services.open(store).models_folder) == before
    assert not work_folder(Services.open(store), job).exists()
    # the dead job no longer blocks: a foreground fine-tune runs to the end and activates
    assert main(["finetune", "--db", store, "--epochs", "1", "--activate"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"held-out ABAW 2020 score: new [0-9.]+, version 1 [0-9.]+", printed)
    assert "active: version 2" in printed
    later = finetune_status(Services.open(store))
    assert (later.job_id, later.state, later.details.version_id) == (job + 1, "done", 2)
