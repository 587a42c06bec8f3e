"""Pre-labelling a corpus: a folder processed by parallel workers (processes here, or a local Ray
instance) stores exactly the labels of processing each video alone, reports the file it cannot
read and carries on, a re-run processes nothing, and the summary and the bar count decoded
frames, whatever the number of people in them.

Every run here that must compute landmarks gets an empty cache folder of its own, so the workers
really decode and find landmarks instead of reading another run's results.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
from fcntl import ioctl
from pathlib import Path

import numpy as np
import pytest
from helpers.videos import TWO_PERSON_FRAMES, truncated_copy

import db
from annotator.processing.corpus import CorpusOptions, find_videos, label_corpus
from annotator.processing.prediction import process_video
from annotator.processing.video import iter_frames
from annotator.services import Services

pytestmark = pytest.mark.slow  # processes whole folders with worker processes

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
            process_video(corpus / clip, Services.open(url))
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
    summary = label_corpus([single_face, copy], Services.open(url), CorpusOptions(workers=1))
    assert [o.path for o in summary.stored()] == [single_face]
    (twin,) = summary.skipped()
    assert twin.path == copy and twin.result == summary.stored()[0].result


def test_a_moved_video_is_skipped_and_found_at_its_new_path(single_face, tmp_path):
    first, moved = tmp_path / "before" / "clip.mp4", tmp_path / "after" / "renamed.mp4"
    first.parent.mkdir()
    shutil.copy(single_face, first)
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    label_corpus([first], Services.open(url), CorpusOptions(workers=1))
    moved.parent.mkdir()
    first.rename(moved)
    summary = label_corpus([moved.parent], Services.open(url), CorpusOptions(workers=1))
    assert [o.path for o in summary.skipped()] == [moved]
    with db.open_database(url).begin() as session:
        (video,) = db.list_videos(session)
        assert (video.path, video.name) == (str(moved.resolve()), "renamed")


def run_process_on_a_terminal(*args: str, cache: Path) -> tuple[str, str]:
    """(stdout, what a 120-column terminal on stderr showed) of `process`: the bar is drawn
    only on a terminal."""
    terminal, screen = pty.openpty()
    ioctl(screen, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    shown: list[bytes] = []
    reader = threading.Thread(target=_read_until_closed, args=(terminal, shown))
    reader.start()
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "annotator.cli", "process", *args], stdout=subprocess.PIPE,
            stderr=screen, text=True, env={**os.environ, "AU_ANNOTATOR_CACHE": str(cache)},
        ) as command:
            os.close(screen)
            stdout = command.communicate(timeout=600)[0]
        assert command.returncode == 0, b"".join(shown).decode(errors="replace")
    finally:
        reader.join(timeout=10)
        os.close(terminal)
    return stdout, b"".join(shown).decode(errors="replace")


def _read_until_closed(terminal: int, shown: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the command ended: the terminal's other side is closed
            return
        if not chunk:
            return
        shown.append(chunk)


@pytest.fixture(scope="module")
def one_and_two_people(tmp_path_factory, single_face, two_person_clip) -> tuple[Path, int]:
    """A folder with the one-face clip and the two-person clip, and their decoded frames."""
    folder = tmp_path_factory.mktemp("one-and-two-people")
    shutil.copy(single_face, folder / "single_face.mp4")
    shutil.copy(two_person_clip, folder / "interview.mp4")
    decoded = sum(1 for clip in folder.iterdir() for _ in iter_frames(clip))
    assert decoded == 72 + TWO_PERSON_FRAMES
    return folder, decoded


@pytest.fixture(scope="module")
def counted(tmp_path_factory, one_and_two_people) -> tuple[str, str, int]:
    """`process` of that folder with two workers, on a terminal: (stdout, the terminal's
    screen, the decoded frames)."""
    folder, decoded = one_and_two_people
    scratch = tmp_path_factory.mktemp("counted")
    url = f"sqlite:///{scratch / 'annotations.sqlite3'}"
    stdout, screen = run_process_on_a_terminal(str(folder), "--workers", "2", "--db", url,
                                               cache=scratch / "cache")
    return stdout, screen, decoded


def test_the_summary_counts_every_decoded_frame_of_one_and_two_person_videos(counted):
    stdout, _, decoded = counted
    summary = stdout.strip().splitlines()[-1]
    found = re.search(r"; ([\d,]+) frames processed in ([\d.]+) s \((\d+) frames/s\)", summary)
    assert summary.startswith("2 stored, 0 skipped") and found, summary
    assert int(found[1].replace(",", "")) == decoded
    assert int(found[3]) > 0


def test_the_bar_runs_in_decoded_frames_with_a_rate(counted):
    _, screen, decoded = counted
    last = re.split(r"[\r\n]+", screen.strip())[-1]  # the bar as it was left
    found = re.search(r"(\d+)/(\d+) frames \|.*\| 2/2 videos · (\d+) frames/s", last)
    assert found, screen
    assert int(found[1]) == int(found[2]) == decoded
    assert int(found[3]) > 0
