"""Uploads: the size limit's message, where an uploaded video is kept, and a refused upload
named as the coder chose it and deleted."""

from __future__ import annotations

import pytest

from annotator.services.uploads import save_upload, upload_limit_message
from model.errors import InputError


def test_an_upload_over_the_limit_is_refused_with_the_server_folder_as_the_way_out():
    message = upload_limit_message("big.mp4", 3 * 1024**3, 2048)
    assert message.startswith("big.mp4: 3,072 MB is over the upload limit of 2,048 MB")
    assert "server folder" in message
    assert upload_limit_message("small.mp4", 1024, 2048) is None


def test_an_upload_keeps_its_name_and_the_same_bytes_land_in_the_same_file(tmp_path,
                                                                          single_face):
    data = single_face.read_bytes()
    first = save_upload("my clip.mp4", data, tmp_path, 2048)
    again = save_upload("my clip.mp4", memoryview(data), tmp_path, 2048)
    assert first == again and first.name == "my clip.mp4"
    assert first.read_bytes() == data


def test_saving_an_upload_over_the_limit_raises_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="huge.mp4: 2 MB is over the upload limit of 1 MB"):
        save_upload("huge.mp4", bytes(2 * 1024**2), tmp_path, 1)
    assert not any(tmp_path.iterdir())


def test_an_upload_that_is_not_a_video_is_refused_by_its_own_name_and_deleted(tmp_path,
                                                                               single_face):
    uploads = tmp_path / "uploads"
    kept = save_upload("clip.mp4", single_face.read_bytes(), uploads, 2048)
    with pytest.raises(InputError) as refused:
        save_upload("notes.mp4", b"meeting notes, not a video\n", uploads, 2048)
    assert str(refused.value).startswith("notes.mp4: not a readable video")
    assert str(uploads) not in str(refused.value) and "\n" not in str(refused.value)
    assert sorted(uploads.rglob("*")) == [kept.parent, kept]  # nothing of notes.mp4 left
