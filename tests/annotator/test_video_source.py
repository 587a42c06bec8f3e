"""One processing opens the video file once: its path, stream info and content hash are found
once (annotator.processing.video.VideoSource), and the frames analysed are decoded from the
container opened for the info. (A browser's proxy, made only for a file browsers cannot play,
reads the file again.)"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from annotator.processing.prediction import process_video
from annotator.processing.video import VideoSource, iter_frames, open_video
from annotator.services import Services
from model.files import content_hash


@pytest.fixture
def opened(monkeypatch) -> list[Path]:
    """The files PyAV opens, in order, from here on."""
    files, real_open = [], av.open

    def counting_open(file, *args, **kwargs):
        files.append(Path(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    return files


def test_processing_a_video_opens_it_once(demo_video, tmp_path, monkeypatch, opened):
    monkeypatch.setenv("AU_ANNOTATOR_CACHE", str(tmp_path / "cache"))  # all decoded, none read
    frames = sum(1 for _ in iter_frames(demo_video))
    opened.clear()
    processed = process_video(demo_video, Services.open(f"sqlite:///{tmp_path / 'labels.sqlite3'}"))
    assert opened == [demo_video]  # browsers play it: no proxy made
    assert processed.frames == frames


def test_a_source_gives_every_frame_from_the_open_that_read_its_info(single_face, opened):
    with VideoSource(single_face) as video:
        assert video.info == open_video(single_face)
        assert video.content_hash == content_hash(single_face)
        opened.clear()
        frames = list(video.frames())
    assert opened == []
    expected = list(iter_frames(single_face))
    assert [f.time for f in frames] == [f.time for f in expected]
    assert all((a.rgb == b.rgb).all() for a, b in zip(frames, expected, strict=True))


def test_a_source_decodes_its_frames_once(single_face):
    with VideoSource(single_face) as video:
        list(video.frames())
        with pytest.raises(RuntimeError, match="decoded already"):
            list(video.frames())
