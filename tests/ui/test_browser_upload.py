"""A real browser uploads a video (Debian's chromium, driven by Playwright, against
`au-annotator app`): it is written to the upload folder with the same bytes, processed and
opened, and the upload widget is emptied, so the server no longer holds the file in memory."""

from __future__ import annotations

import shutil

import pytest
from app_server import running_app

playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright (pip package) not installed")
CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium not installed "
                                                "(apt-get install chromium; scripts/test does it)"),
    pytest.mark.slow,
]
TIMEOUT_MS = 60_000
TIMELINE = ".st-key-timeline .nsewdrag"


def test_an_uploaded_video_is_saved_processed_opened_and_released(
        tmp_path, single_face, monkeypatch):
    uploads = tmp_path / "uploads"
    monkeypatch.setenv("AU_ANNOTATOR_UPLOADS", str(uploads))
    with running_app(tmp_path / "annotations.sqlite3") as (url, _), \
            playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1150})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.get_by_label("Your name").fill("browser coder")
        page.get_by_role("button", name="Start coding").click()
        page.get_by_text("Upload", exact=True).click()
        page.locator("input[type='file']").set_input_files(single_face)
        page.get_by_test_id("stFileChip").wait_for()
        page.get_by_role("button", name="Process the upload").click()
        page.locator(TIMELINE).wait_for()
        assert page.get_by_test_id("stFileChip").count() == 0
        browser.close()
    saved = list(uploads.glob("*/single_face.mp4"))
    assert len(saved) == 1 and saved[0].read_bytes() == single_face.read_bytes()
    assert not list(uploads.rglob(".*partial*"))
