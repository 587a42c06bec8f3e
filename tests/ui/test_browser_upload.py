"""A real browser uploads a video (Debian's chromium, driven by Playwright, against
`au-annotator app`): it is written to the upload folder with the same bytes, processed and
opened, and the upload widget is emptied, so the server no longer holds the file in memory."""

from __future__ import annotations

import pytest
from helpers.app_server import running_app
from helpers.browser import TIMELINE, new_page, start_coding

pytestmark = pytest.mark.slow


def test_an_uploaded_video_is_saved_processed_opened_and_released(
        tmp_path, single_face, monkeypatch, browser):
    uploads = tmp_path / "uploads"
    monkeypatch.setenv("AU_ANNOTATOR_UPLOADS", str(uploads))
    with running_app(tmp_path / "annotations.sqlite3") as (url, _):
        page = new_page(browser)
        page.goto(url)
        start_coding(page)
        page.get_by_text("Upload", exact=True).click()
        page.locator("input[type='file']").set_input_files(single_face)
        page.get_by_test_id("stFileChip").wait_for()
        page.get_by_role("button", name="Process the upload").click()
        page.locator(TIMELINE).wait_for()
        assert page.get_by_test_id("stFileChip").count() == 0
        page.context.close()
    saved = list(uploads.glob("*/single_face.mp4"))
    assert len(saved) == 1 and saved[0].read_bytes() == single_face.read_bytes()
    assert not list(uploads.rglob(".*partial*"))
