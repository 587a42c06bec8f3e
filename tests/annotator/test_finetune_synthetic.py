"""Proof on synthetic data: fine-tuning on corrected synthetic videos raises the held-out score,
starting from the parent's behaviour and keeping the parent's output where it learnt nothing.

The clips (real faces, AUs warped in, exact labels) are processed into a fresh database, so the
geometry baseline pre-fills them. A coder corrects AU6, AU12 and AU20 (the AUs the baseline
pre-fills worst on these clips) in all 11 videos, by importing those columns of the label
files; fine-tuning (no model version exists yet: a new network distilled from the baseline)
holds out the 3 clips the generator made for validation (whole videos) and measures both
predictors' pre-fill on them over the corrected AUs.
Seen when written: held-out ABAW 2020 0.58 for the new version against 0.41 for the geometry
baseline. Against the fused baseline (geometry + expression), eight runs on 2026-12-06: new
0.490-0.524 against 0.441-0.444, a gain of 0.046-0.083 (the fine-tuned score varies by a few
hundredths from run to run); the test asks for a gain of 0.03.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.finetuning import (
    TINY_NETWORK,
    database_with_corrections,
    synthetic_dataset,
    video_ids,
)

import db
from annotator.jobs.finetune_launch import create_finetune_job
from annotator.jobs.finetune_process import run_job
from annotator.learning.finetune_options import FinetuneOptions
from annotator.learning.model_versions import compare_versions
from annotator.processing.extraction import features_for_video
from annotator.services import Services
from model.au_sets import au_names
from model.baseline import load_baseline
from model.predictors import load_predictor

pytestmark = pytest.mark.slow
CORRECTED_AUS = ("AU6", "AU12", "AU20")


def test_finetuning_on_corrected_videos_beats_the_baseline_on_held_out_videos(
    tmp_path, demo_video
):
    dataset = synthetic_dataset(demo_video)
    names = sorted(p.stem for p in (dataset / "videos").glob("*.mp4"))
    url = database_with_corrections(tmp_path, dataset, corrected=names, aus=CORRECTED_AUS)
    ids = video_ids(url)
    validation_clips = tuple(ids[name] for name in names[8:])
    options = FinetuneOptions(epochs=12, batch_size=16, held_out=validation_clips,
                              network=TINY_NETWORK)

    services = Services.open(url)
    status = run_job(services, create_finetune_job(services, options))

    assert status.state == "done", status.message
    comparison = compare_versions(services, status.details.version_id)
    new, baseline = comparison.new["score"], comparison.parent["score"]
    print(f"held-out ABAW 2020 over {CORRECTED_AUS}: new {new:.4f}, fused baseline "
          f"{baseline:.4f}")
    assert comparison.parent_label == "geometry + expression baseline"
    assert comparison.metric == "abaw2020"
    assert new >= baseline + 0.03
    scored = {au for au, f1 in comparison.new["per_au_f1"].items() if f1 is not None}
    assert scored == set(CORRECTED_AUS)
    assert comparison.held_out_videos == names[8:]
    assert comparison.training_videos == names[:8]
    assert [h["epoch"] for h in status.details.history] == list(range(1, 13))
    with db.open_database(url).begin() as session:
        assert db.active_model_version(session) is None  # the new version waits to be activated
        version = db.get_model_version(session, status.details.version_id)
        path, metrics = version.path, version.metrics
    assert metrics["training"]["history"][0]["epoch"] == 0  # the start competes with the epochs
    assert metrics["training"]["learned_aus"] == list(CORRECTED_AUS)

    # the AUs nobody corrected come from the parent (geometry + expression), bit for bit
    predictor, baseline = load_predictor(path), load_baseline()  # the fused cold start
    features = features_for_video(dataset / "videos" / f"{names[9]}.mp4")
    kept = [k for k, au in enumerate(au_names("abaw2020")) if au not in CORRECTED_AUS]
    assert np.array_equal(predictor.predict(features)[:, kept], baseline.predict(features)[:, kept],
                          equal_nan=True)
    assert (predictor.thresholds[kept] == baseline.thresholds[kept]).all()
