"""Model versions a team shares: the database keeps a copy of each version's checkpoint, so a
host that lacks the file (another machine on the same PostgreSQL database) loads the same bytes.

The hosts of the PostgreSQL tests are processes with homes of their own: the first fine-tunes a
version into its models folder, that home is then deleted, and the second loads the version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from sqlalchemy import create_engine, text

import db
from db.engine import alembic_config, get_engine
from model.files import content_hash

TINY_NETWORK = {"conv_channels": [8, 8, 16, 16], "hidden_size": 32, "embedding_size": 16}

# Host one: process two clips, import the eye labels as alice's, fine-tune a small network
# (single_face held out) and make it the active version; prints the version and its file.
HOST_ONE = """
import json, sys
from pathlib import Path
import db
from annotator.processing.corpus import CorpusOptions, label_corpus
from annotator.learning.finetune_options import FinetuneOptions
from annotator.learning.model_versions import activate_version
from annotator.jobs.finetune_process import run_job
from annotator.jobs.finetune_launch import create_finetune_job
from annotator.services import Services
from annotator.labelfiles.label_io import import_label_folder

url, labels, network, *videos = sys.argv[1:]
services = Services.open(url)
label_corpus([Path(v) for v in videos], services, CorpusOptions(workers=1))
with db.open_database(url).begin() as session:
    import_label_folder(session, Path(labels), "alice")
    held_out = tuple(v.id for v in db.videos_named(session, "single_face"))
options = FinetuneOptions(held_out=held_out, epochs=1, distil_epochs=1,
                          network=json.loads(network))
status = run_job(services, create_finetune_job(services, options))
activate_version(services, status.details.version_id, force=True)
with db.open_database(url).begin() as session:
    version = db.get_model_version(session, status.details.version_id)
    print(json.dumps({"version": version.id, "file": version.path}))
"""

# Host two: the active predictor, the file it loaded, and its probabilities for a clip beside
# those host one stored with the version.
HOST_TWO = """
import json, sys
import numpy as np
import db
from annotator.processing.extraction import features_for_video
from annotator.processing.prediction import active_predictor, version_file
from annotator.services import Services

url, video = sys.argv[1:]
predictor, version_id = active_predictor(Services.open(url))
with db.open_database(url).begin() as session:
    file = version_file(session, db.active_model_version(session))
    (clip,) = db.videos_named(session, "single_face")
    run = db.latest_prediction_run(session, clip.id)
    stored = db.run_probabilities(run)
ours = predictor.predict(features_for_video(video))
print(json.dumps({"version": version_id, "file": str(file), "run_version": run.model_version_id,
                  "ours": np.nan_to_num(ours, nan=-1).tolist(),
                  "stored": np.nan_to_num(stored, nan=-1).tolist()}))
"""


def as_host(home: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    """A process of another machine: its own home (so its own models folder)."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("XDG_") and k != "AU_ANNOTATOR_DB"}
    environment["HOME"] = str(home)
    if cache is not None:
        environment["AU_ANNOTATOR_CACHE"] = str(cache)
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                            env=environment, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def team_database(postgresql_url, tmp_path_factory, single_face, demo_video, eye_labels):
    """(URL, host one's home, what host one printed) after host one fine-tuned and activated a
    version; host one's home is gone by then."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    server = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    server.dispose()
    url = postgresql_url.rsplit("/", 1)[0] + f"/{name}"
    home = tmp_path_factory.mktemp("host-one")
    made = as_host(home, "-c", HOST_ONE, url, str(eye_labels), json.dumps(TINY_NETWORK),
                   str(single_face), str(demo_video))
    published = json.loads(made.stdout.splitlines()[-1])
    assert Path(published["file"]).is_relative_to(home)
    shutil.rmtree(home)
    return url, home, published


@pytest.mark.slow
def test_a_version_fine_tuned_on_one_host_loads_on_another(team_database, single_face,
                                                           tmp_path):
    url, first_home, published = team_database
    loaded = json.loads(as_host(tmp_path / "home", "-c", HOST_TWO, url, str(single_face),
                                cache=tmp_path / "cache").stdout)
    assert loaded["version"] == loaded["run_version"] == published["version"]
    file = Path(loaded["file"])
    assert file.is_relative_to(tmp_path / "cache") and not file.is_relative_to(first_home)
    assert file.name == Path(published["file"]).name
    with db.open_database(url).begin() as session:
        version = db.get_model_version(session, published["version"])
        assert content_hash(file) == version.checkpoint_sha256
    np.testing.assert_allclose(loaded["ours"], loaded["stored"], atol=1e-5)


@pytest.mark.slow
def test_processing_on_another_host_predicts_with_the_shared_version(team_database, no_face,
                                                                     tmp_path):
    url, _, published = team_database
    result = as_host(tmp_path / "home", "-m", "annotator.cli", "process", str(no_face),
                     "--db", url, cache=tmp_path / "cache")
    assert f"from {Path(published['file']).stem}-" in result.stdout
    with db.open_database(url).begin() as session:
        (video,) = db.videos_named(session, "no_face")
        assert db.latest_prediction_run(session, video.id).model_version_id == published[
            "version"]


# --- where a version loads from (SQLite: one process plays both hosts) ----------------------


def publish(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def test_a_version_keeps_a_copy_of_its_file(sessions, tmp_path):
    file = publish(tmp_path / "models", "v1.safetensors", b"weights of version one")
    with sessions.begin() as session:
        version = db.add_model_version(session, file, "abaw2020")
        assert version.checkpoint == b"weights of version one"
        assert version.checkpoint_sha256 == hashlib.sha256(b"weights of version one").hexdigest()


def test_the_host_that_published_a_version_loads_its_own_file(sessions, tmp_path):
    file = publish(tmp_path / "models", "v1.safetensors", b"weights")
    with sessions.begin() as session:
        version = db.add_model_version(session, file, "abaw2020")
        assert db.model_version_file(session, version, tmp_path / "copies") == file
    assert not (tmp_path / "copies").exists()


def test_a_host_without_the_file_gets_the_copy_with_its_ancestors_beside_it(sessions, tmp_path):
    models = tmp_path / "host-one" / "models"
    parent_file = publish(models, "finetune-job1.safetensors", b"parent weights")
    child_file = publish(models, "finetune-job2.safetensors", b"child weights")
    with sessions.begin() as session:
        parent = db.add_model_version(session, parent_file, "abaw2020")
        child_id = db.add_model_version(session, child_file, "abaw2020", parent_id=parent.id).id
    shutil.rmtree(tmp_path / "host-one")
    with sessions.begin() as session:
        file = db.model_version_file(session, db.get_model_version(session, child_id),
                                     tmp_path / "copies")
    assert file.read_bytes() == b"child weights"
    assert (file.parent / "finetune-job1.safetensors").read_bytes() == b"parent weights"
    assert file.parent.parent == tmp_path / "copies"


def test_a_changed_file_at_the_published_path_is_not_loaded(sessions, tmp_path):
    file = publish(tmp_path / "models", "v1.safetensors", b"the weights that were scored")
    with sessions.begin() as session:
        version_id = db.add_model_version(session, file, "abaw2020").id
    file.write_bytes(b"something else under the same name")
    with sessions.begin() as session:
        loaded = db.model_version_file(session, db.get_model_version(session, version_id),
                                       tmp_path / "copies")
    assert loaded != file and loaded.read_bytes() == b"the weights that were scored"


def test_versions_recorded_before_copies_were_kept_get_one_on_upgrade(sqlite_url, tmp_path):
    file = publish(tmp_path / "models", "old.safetensors", b"weights from an older release")
    config = alembic_config()
    with get_engine(sqlite_url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text("INSERT INTO model_versions (path, au_set, metrics, active, note, created_at) "
                 "VALUES (:path, 'abaw2020', '{}', 0, '', '2026-11-01 00:00:00')"),
            {"path": str(file)},
        )
    with db.open_database(sqlite_url).begin() as session:
        (version,) = db.list_model_versions(session)
        assert version.checkpoint == b"weights from an older release"


def test_metrics_that_are_not_numbers_are_stored_as_null(sessions, tmp_path):
    # PostgreSQL's JSON has no NaN: every database stores null instead
    file = publish(tmp_path / "models", "v1.safetensors", b"weights")
    with sessions.begin() as session:
        version_id = db.add_model_version(
            session, file, "abaw2020", {"history": [{"epoch": 0, "loss": float("nan")}]}).id
    with sessions.begin() as session:
        assert db.get_model_version(session, version_id).metrics == {
            "history": [{"epoch": 0, "loss": None}]}
