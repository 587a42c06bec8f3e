"""JSON columns read through typed classes: defaults for rows written before a key existed,
round trips, and the one rule for a coder's thresholds over a run's."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

import db
from db.tables import PrefillSettings


def test_an_old_job_row_missing_keys_reads_with_the_defaults():
    assert db.JobDetails.from_json(None) == db.JobDetails(key=None, again=False, result=None)
    old = db.FinetuneDetails.from_json({"options": {"epochs": 7}, "retired_key": 1})
    assert (old.history, old.version_id, old.parent_score, old.started_by) == ([], None, None,
                                                                                None)
    assert old.epoch == db.EpochRecord(epoch=0, epochs=7, loss=None, held_out=None)


def test_finetune_details_round_trip_through_json():
    details = db.FinetuneDetails(key=None, options={"epochs": 2}, started_by="ann",
                                 progress=db.EpochRecord(2, 2, 0.41, 0.63), parent_score=0.5,
                                 history=[{"epoch": 1, "loss": 0.5, "held_out": 0.6}],
                                 version_id=4)
    assert db.FinetuneDetails.from_json(asdict(details)) == details


def test_a_run_stored_before_its_landmark_backend_was_recorded_used_dlib():
    assert db.RunDetails.from_json({}).landmark_backend == "dlib"
    assert db.RunDetails.from_json({"landmark_backend": "fan", "x": 1}).landmark_backend == "fan"
    parameters = db.PredictionParameters("abaw2020", {}, 1, details={"prior_run": 3})
    assert (parameters.run_details.prior_run, parameters.run_details.reports) == (3, [])


def run_parameters() -> db.PredictionParameters:
    aus = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")
    return db.PredictionParameters("abaw2020", dict.fromkeys(aus, 0.5), 3)


def test_a_coders_thresholds_win_and_the_runs_hold_where_the_coder_set_none():
    settings = PrefillSettings(smoothing_window=5, thresholds={"AU4": 0.2, "AU12": 0.7})
    thresholds, window = db.coder_prefill_parameters(run_parameters(), settings)
    assert window == 5
    assert thresholds == pytest.approx([0.5, 0.5, 0.2, 0.5, 0.7, 0.5, 0.5, 0.5])


def test_without_a_coders_settings_the_run_decides():
    thresholds, window = db.coder_prefill_parameters(run_parameters(), None)
    assert (window, thresholds.tolist()) == (3, np.full(8, 0.5).tolist())
