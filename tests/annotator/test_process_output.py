"""`process` writing into a log or a pipe: plain lines, one per video, never a progress bar's
carriage-return redraws."""

from __future__ import annotations

import shutil
import subprocess
import sys


def test_process_into_a_pipe_prints_a_line_for_the_video_and_no_bar(single_face, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "process", str(single_face),
         "--db", str(tmp_path / "a.sqlite3")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout + result.stderr
    assert f"{single_face}: 72 frames, face in 72 (100.0 %)" in result.stdout
    assert "frame/s" not in result.stderr  # nor a bar drawn once at its end


def test_process_of_a_folder_into_a_pipe_prints_a_line_per_video_and_no_bar(
    single_face, no_face, tmp_path
):
    folder = tmp_path / "videos"
    folder.mkdir()
    for clip in (single_face, no_face):
        shutil.copy(clip, folder / clip.name)
    result = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "process", str(folder), "--workers", "1",
         "--db", str(tmp_path / "a.sqlite3")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout + result.stderr
    videos = [line.split(": ")[0] for line in result.stdout.splitlines()
              if line.startswith("[") and ".mp4: " in line]
    assert sorted(videos) == [
        f"[1/2] {folder / 'no_face.mp4'}", f"[2/2] {folder / 'single_face.mp4'}"]
    assert "videos |" not in result.stderr
