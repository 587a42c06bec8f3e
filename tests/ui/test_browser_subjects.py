"""A real browser codes the second person of a two-person video (Debian's chromium, driven by
Playwright, against `au-annotator app`): the correction is stored for that subject only, and a
reload keeps the subject."""

from __future__ import annotations

import pytest
from helpers.app_server import running_app
from helpers.browser import TIMELINE, flat_drag, new_page, selected_range, start_coding

import db
from annotator.processing.prediction import process_video
from annotator.services import Services

pytestmark = pytest.mark.slow
AU12 = 4  # column of ABAW 2020


def sign_in(page) -> None:
    start_coding(page)
    page.locator(TIMELINE).wait_for()


def test_the_second_person_is_coded_and_the_correction_stored_for_them_only(
        tmp_path, two_person_clip, browser):
    clip = two_person_clip
    database = tmp_path / "annotations.sqlite3"
    video_id = process_video(clip, Services.open(f"sqlite:///{database}")).video_id
    with running_app(database) as (url, _):
        page = new_page(browser, viewport={"width": 1400, "height": 1200})
        page.goto(f"{url}/?video={video_id}")
        sign_in(page)
        page.get_by_role("button", name="Subject 2 · right").click()
        page.get_by_text("Coding subject 2.").wait_for()
        assert "subject=2" in page.url

        page.wait_for_timeout(1000)  # the timelines redrawn for subject 2
        flat_drag(page, "AU12", 0.0, 0.1)
        first, last = selected_range(page)
        page.locator("h3").first.click()  # keys go to the shortcuts
        page.keyboard.press("p")
        page.get_by_text(f"Stored: AU12, frames {first}–{last}").wait_for()

        page.reload()  # the address keeps the video and the subject, the cookie the coder
        page.locator(TIMELINE).wait_for()
        chosen = page.get_by_role("button", name="Subject 2 · right")
        assert chosen.get_attribute("data-testid") == "stBaseButton-primary"
        player = page.get_by_test_id("stBidiComponentIsolated")
        player.get_by_text("subject 2's face").wait_for()  # the player follows them too
        page.context.close()
    with db.open_database(f"sqlite:///{database}").begin() as session:
        video = db.get_video(session, video_id)
        second = db.effective_labels(session, video, "browser coder", 2)
        first_subject = db.effective_labels(session, video, "browser coder", 1)
    assert first == 0 and second.reviewed[: last + 1, AU12].all()
    assert (second.labels[: last + 1, AU12] == 1).all()
    assert not first_subject.reviewed.any()
