"""`au-annotator finetune --activate` activates a new version only when it scores at least its
parent on the held-out frames, and says which it did."""

from __future__ import annotations

import pytest
from helpers.finetuning import database_with_corrections, synthetic_dataset

import db
from annotator.cli import main
from annotator.learning.model_versions import compare_versions
from annotator.services import Services

pytestmark = pytest.mark.slow


def test_finetune_activate_follows_the_held_out_comparison(tmp_path, demo_video, capsys):
    dataset = synthetic_dataset(demo_video)
    names = sorted(p.stem for p in (dataset / "videos").glob("*.mp4"))
    url = database_with_corrections(tmp_path, dataset, corrected=names[:4])

    assert main(["finetune", "--db", url, "--epochs", "2", "--batch-size", "16",
                 "--activate"]) == 0

    out = capsys.readouterr().out
    print(out)
    with db.open_database(url).begin() as session:
        [version] = db.list_model_versions(session)
        active = db.active_model_version(session)
    comparison = compare_versions(Services.open(url), version.id)
    assert f"held-out ABAW 2020 score: new {comparison.new['score']:.4f}" in out
    if comparison.at_least_parent:
        assert f"active: version {version.id};" in out and active.id == version.id
    else:
        assert f"not activated: version {version.id} scores" in out and active is None
        assert "the parent stays active (--force activates it anyway)" in out
