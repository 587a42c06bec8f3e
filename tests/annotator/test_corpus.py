"""Pre-labelling a corpus: a folder processed by parallel workers (processes here, or a local Ray
instance) stores exactly the labels of processing each video alone, reports the file it cannot
read and carries on, and a re-run processes nothing.

Every run here that must compute landmarks gets an empty cache folder of its own, so the workers
really decode and find landmarks instead of reading another run's results.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from videos import truncated_copy

import db
from annotator.corpus import CorpusOptions, find_videos, label_corpus
from annotator.prefill import process_video

CLIPS = ("single_face.mp4", "no_face.mp4", "interviews/WolfgangLanger_Pexels.mp4")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, single_face, no_face, demo_video) -> Path:
    """The three shared clips (one in a subfolder), a corrupt video and a text file."""
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "interviews").mkdir()
    for clip, source in zip(CLIPS, (single_face, no_face, demo_video), strict=True):
        shutil.copy(source, folder / clip)
    truncated_copy(single_face, folder / "corrupt.mp4", 0.3)
    (folder / "notes.txt").write_text("field notes, not a video\n")
    return folder


def run_process(*args: str, cache: Path, **environment: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **environment, "AU_ANNOTATOR_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "annotator.cli", "process", *args], capture_output=True,
        text=True, env=environment, timeout=600,
    )


def stored_labels(url: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Video name → (pre-fill labels, AU probabilities) of its newest run."""
    with db.open_database(url).begin() as session:
        runs = {video.name: db.latest_prediction_run(session, video.id)
                for video in db.list_videos(session)}
        return {name: (db.run_prefill(run)[0], db.run_probabilities(run))
                for name, run in runs.items()}


def assert_same_labels(found: dict, expected: dict) -> None:
    assert sorted(found) == sorted(expected)
    for name, (labels, probabilities) in expected.items():
        np.testing.assert_array_equal(found[name][0], labels, err_msg=name)
        np.testing.assert_allclose(found[name][1], probabilities, atol=1e-6, err_msg=name)


@pytest.fixture(scope="module")
def alone(tmp_path_factory, corpus) -> dict:
    """The labels of each clip processed alone, one after another (`process VIDEO`)."""
    folder = tmp_path_factory.mktemp("alone")
    url = f"sqlite:///{folder / 'annotations.sqlite3'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AU_ANNOTATOR_CACHE", str(folder / "cache"))
        for clip in CLIPS:
            process_video(corpus / clip, url)
    return stored_labels(url)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, corpus):
    """The corpus folder processed with `--workers 2`: (database URL, the command's result)."""
    folder = tmp_path_factory.mktemp("two-workers")
    url = f"sqlite:///{folder / 'annotations.sqlite3'}"
    result = run_process(str(corpus), "--workers", "2", "--db", url, cache=folder / "cache")
    return url, result


def test_two_workers_store_three_videos_and_report_the_corrupt_file(two_workers, corpus):
    url, result = two_workers
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "1 of 4 videos failed" in errors[0] and str(corpus / "corrupt.mp4") in errors[0]
    assert f"{corpus / 'corrupt.mp4'}: failed:" in result.stdout
    assert "3 stored, 0 skipped" in result.stdout
    with db.open_database(url).begin() as session:
        assert sorted(v.name for v in db.list_videos(session)) == [
            "WolfgangLanger_Pexels", "no_face", "single_face"]


def test_two_workers_store_the_labels_of_each_video_processed_alone(two_workers, alone):
    url, _ = two_workers
    assert_same_labels(stored_labels(url), alone)


def test_a_rerun_processes_nothing(two_workers, corpus, tmp_path):
    url, _ = two_workers
    with db.open_database(url).begin() as session:
        runs_before = [db.latest_prediction_run(session, v.id).id for v in db.list_videos(session)]
    again = run_process(str(corpus), "--workers", "2", "--db", url, cache=tmp_path / "cache")
    assert again.returncode == 2  # the corrupt file still fails
    assert "0 stored, 3 skipped" in again.stdout and "0 frames processed" in again.stdout
    assert not (tmp_path / "cache").exists()  # no video was decoded
    with db.open_database(url).begin() as session:
        assert [db.latest_prediction_run(session, v.id).id
                for v in db.list_videos(session)] == runs_before


@pytest.mark.slow
def test_a_local_ray_instance_stores_the_same_labels(corpus, alone, tmp_path):
    pytest.importorskip("ray", reason="Ray is the optional `cluster` extra")
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    # a short folder: Ray's socket paths must stay under the system's 107-character limit
    ray_folder = Path(tempfile.mkdtemp(prefix="ray-"))
    try:
        result = run_process(str(corpus), "--ray", "local", "--workers", "2", "--db", url,
                             cache=tmp_path / "cache", RAY_TMPDIR=str(ray_folder))
        assert result.returncode == 2, result.stderr
        assert "3 stored, 0 skipped (processed before with dlib), 1 failed" in result.stdout
        assert_same_labels(stored_labels(url), alone)
        # the instance's one node had a loopback address, and it was shut down
        logs = ray_folder / "ray" / "session_latest" / "logs" / "gcs_server.out"
        assert "node_address=127.0.0.1" in logs.read_text()
        assert not ray_processes_using(ray_folder)
    finally:
        shutil.rmtree(ray_folder, ignore_errors=True)


def ray_processes_using(folder: Path) -> list[str]:
    """Command lines of running processes that name `folder` (Ray's servers and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if entry.name.isdigit() and str(folder) in command:
            found.append(command)
    return found


def test_folders_are_searched_recursively_for_video_files_each_found_once(corpus):
    videos, failures = find_videos([corpus, corpus / "single_face.mp4", corpus / "gone.mp4"])
    assert sorted(v.relative_to(corpus).as_posix() for v in videos) == sorted(
        [*CLIPS, "corrupt.mp4"])
    assert [(f.path.name, f.problem) for f in failures] == [
        ("gone.mp4", "no such file or folder")]


def test_a_copy_under_another_name_is_processed_once(single_face, tmp_path):
    copy = tmp_path / "same_face_again.mp4"
    shutil.copy(single_face, copy)
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    summary = label_corpus([single_face, copy], url, CorpusOptions(workers=1))
    assert [o.path for o in summary.stored()] == [single_face]
    (twin,) = summary.skipped()
    assert twin.path == copy and twin.result == summary.stored()[0].result


def test_a_moved_video_is_skipped_and_found_at_its_new_path(single_face, tmp_path):
    first, moved = tmp_path / "before" / "clip.mp4", tmp_path / "after" / "renamed.mp4"
    first.parent.mkdir()
    shutil.copy(single_face, first)
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    label_corpus([first], url, CorpusOptions(workers=1))
    moved.parent.mkdir()
    first.rename(moved)
    summary = label_corpus([moved.parent], url, CorpusOptions(workers=1))
    assert [o.path for o in summary.skipped()] == [moved]
    with db.open_database(url).begin() as session:
        (video,) = db.list_videos(session)
        assert (video.path, video.name) == (str(moved.resolve()), "renamed")
