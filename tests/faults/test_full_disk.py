"""A disk that fills up while an export or a checkpoint is written (a file-size limit,
RLIMIT_FSIZE, on the writing process): the write fails with a short error naming the file, no
partial file is left beside it, and the file that was there before is intact.

The limit applies to every file the process grows, so the database is opened only to read and
the files written are larger than SQLite's 32 KB shared-memory file. SIGXFSZ, which would kill
the process at the limit, is ignored, so the write raises OSError (EFBIG) as on a full disk.
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import db
from model.au_sets import au_names
from model.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow  # fault tests: processes on a full disk

WRITER = Path(__file__).with_name("full_disk_writer.py")
REPO = Path(__file__).resolve().parents[2]
FRAMES = 20_000  # an Aff-Wild2 export of about 320 KB


def with_file_size_limit(size: int):
    """preexec_fn: files this process writes may not grow past `size` bytes."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def run(arguments: list[str], size_limit: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True,
                          timeout=180, env=env,
                          preexec_fn=with_file_size_limit(size_limit) if size_limit else None)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def labelled(tmp_path) -> str:
    """A database with one long pre-filled video and a coder's corrections; its URL."""
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    aus = au_names("abaw2020")
    with db.open_database(url).begin() as session:
        video = db.register_video(session, content_hash="f" * 64, path="/videos/clip.mp4",
                                  fps=30.0, frame_count=FRAMES, width=640, height=360)
        probabilities = np.random.default_rng(0).random((FRAMES, len(aus)), dtype=np.float32)
        db.store_prediction_run(session, video, probabilities,
                                db.PredictionParameters("abaw2020", dict.fromkeys(aus, 0.5), 1))
        db.correct(session, video, "alice", "AU12", 0, 999, 1)
    return url


def export(url: str, out: Path, size_limit: int | None = None) -> subprocess.CompletedProcess:
    return run(["-m", "annotator.cli", "export", "--format", "affwild2", "--out", str(out),
                "--db", url], size_limit)


def test_an_export_onto_a_full_disk_fails_in_one_line_and_keeps_the_previous_file(
    labelled, tmp_path
):
    out = tmp_path / "export"
    assert export(labelled, out).returncode == 0
    previous = out / "clip.txt"
    before = digest(previous)
    with db.open_database(labelled).begin() as session:  # new labels: the next export differs
        db.correct(session, db.get_video(session, 1), "alice", "AU12", 0, FRAMES - 1, 0)

    failed = export(labelled, out, size_limit=previous.stat().st_size // 2)

    assert failed.returncode != 0
    assert failed.stderr.splitlines() == [
        f"au-annotator export: error: {previous}: {os.strerror(errno.EFBIG)}"]
    assert sorted(os.listdir(out)) == ["clip.txt"]  # no partial file beside it
    assert digest(previous) == before
    assert export(labelled, out).returncode == 0 and digest(previous) != before  # it was due


def test_a_checkpoint_written_onto_a_full_disk_leaves_the_previous_one_whole(tmp_path):
    models = tmp_path / "models"
    target = models / "model.safetensors"
    assert run([str(WRITER), "checkpoint", str(target), "0"]).stdout.startswith("written")
    before = digest(target)

    failed = run([str(WRITER), "checkpoint", str(target), "1"],
                 size_limit=target.stat().st_size // 2)

    assert failed.returncode == 3, failed.stderr
    assert failed.stdout.split() == ["error", str(errno.EFBIG), str(target)]
    assert os.listdir(models) == ["model.safetensors"]
    assert digest(target) == before
    read_checkpoint(target)  # still a whole, loadable checkpoint


def test_a_model_versions_copy_onto_a_full_disk_leaves_no_partial_file(tmp_path):
    """Another host loads a version from the database's copy of its checkpoint."""
    made = tmp_path / "made" / "finetune.safetensors"
    assert run([str(WRITER), "checkpoint", str(made), "0"]).returncode == 0
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    with db.open_database(url).begin() as session:
        version_id = db.add_model_version(session, made, "abaw2020").id
    size = made.stat().st_size
    made.unlink()  # the file stays on the host that made it
    copies = tmp_path / "copies"

    failed = run([str(WRITER), "copy", url, str(version_id), str(copies)], size_limit=size // 2)

    assert failed.returncode == 3, failed.stderr
    code, filename = failed.stdout.split()[1:]
    assert code == str(errno.EFBIG) and Path(filename).name == "finetune.safetensors"
    assert [p for p in copies.rglob("*") if p.is_file()] == []  # no partial copy
    done = run([str(WRITER), "copy", url, str(version_id), str(copies)])
    assert done.returncode == 0, done.stdout + done.stderr
    read_checkpoint(done.stdout.split()[1])  # with room, the copy is made and loads
