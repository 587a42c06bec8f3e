"""A coder's session in a real browser (Debian's chromium, driven by Playwright, against
`au-annotator app`): keys never change stored labels from inside a field, frames outside the
video are refused, the sign-in survives a reload and a new tab until Sign out, and a whole
coding session (open, correct, undo, review next, learn, export) runs without one error in
the browser's console.

With AU_ANNOTATOR_SCREENSHOT=docs/screenshot.png the whole-session test saves the main screen
there (the README's picture).
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from helpers.app_server import running_app
from helpers.browser import (
    TIMELINE,
    flat_drag,
    new_page,
    selected_range,
    start_coding,
    wait_until_idle,
)

from annotator.processing.prediction import process_video
from annotator.services import Services, actions
from annotator.ui.sign_in import COOKIE

pytestmark = pytest.mark.slow
CODER = "browser coder"
AU1, AU12 = 0, 4  # columns of ABAW 2020


@pytest.fixture(scope="module")
def served(tmp_path_factory, demo_video):
    """The app serving a database with the demo clip processed: (url, database url, video)."""
    database = tmp_path_factory.mktemp("session") / "annotations.sqlite3"
    url = f"sqlite:///{database}"
    video_id = process_video(demo_video, Services.open(url)).video_id
    with running_app(database) as (address, _):
        yield address, url, video_id


def sign_in(page, address: str, query: str = "") -> None:
    page.goto(f"{address}/{query}")
    start_coding(page, CODER)
    page.get_by_text(f"Coding as {CODER}").wait_for()


def reviewed(database: str, video_id: int, frame: int, column: int) -> bool:
    return bool(actions.review_state(Services.open(database), video_id, CODER).reviewed[frame,
                                                                                        column])


def edits_made(database: str, video_id: int) -> int:
    return len(actions.history_table(Services.open(database), video_id))


def outside_fields(page) -> None:
    page.locator("h3").first.click()  # the typing focus leaves every field
    wait_until_idle(page)


def test_ctrl_z_in_a_field_acts_on_the_field_and_outside_undoes(served, browser):
    address, database, video_id = served
    page = new_page(browser)
    sign_in(page, address, f"?video={video_id}")
    page.locator(TIMELINE).wait_for()
    page.get_by_role("button", name="Present").click()
    page.get_by_text("Stored: AU1, frames 0–0 present.").wait_for()
    assert reviewed(database, video_id, 0, AU1)

    for name in ("Frame", "First frame"):
        field = page.get_by_label(name, exact=True)
        field.click()
        field.press("Control+a")
        field.press_sequentially("42")
        field.press("Control+z")
        field.press("Control+y")
        page.wait_for_timeout(1500)  # time for an undo to reach the server, were it sent
        assert field.input_value() == "42"
        assert reviewed(database, video_id, 0, AU1), f"Ctrl+Z in {name} undid a stored label"
        assert not page.get_by_text("Undone.").is_visible()
        field.press("Escape")
    outside_fields(page)
    page.get_by_label("First frame", exact=True).fill("0")
    outside_fields(page)
    page.keyboard.press("Control+z")
    page.get_by_text("Undone.").wait_for()
    assert not reviewed(database, video_id, 0, AU1)


def test_a_last_frame_beyond_the_video_is_refused_and_nothing_is_stored(served, browser):
    address, database, video_id = served
    page = new_page(browser)
    sign_in(page, address, f"?video={video_id}")
    page.locator(TIMELINE).wait_for()
    page.get_by_label("First frame", exact=True).fill("20")
    page.get_by_label("Last frame", exact=True).fill("60")
    outside_fields(page)
    page.get_by_label("Last frame", exact=True).fill("999")
    page.get_by_label("Last frame", exact=True).press("Enter")
    page.get_by_text("Last frame 999 is outside the video (frames 0–471)").first.wait_for()
    before = edits_made(database, video_id)
    page.get_by_role("button", name="Absent").click()
    page.get_by_text("Not stored: Last frame 999 is outside the video").wait_for()
    assert edits_made(database, video_id) == before
    assert not reviewed(database, video_id, 20, AU1)


def test_the_sign_in_survives_a_reload_and_a_new_tab_until_sign_out(served, browser):
    address, _, _ = served
    page = new_page(browser)
    sign_in(page, address)
    page.reload()
    page.get_by_text(f"Coding as {CODER}").wait_for()
    other_tab = new_page(browser, page.context)
    other_tab.goto(address)
    other_tab.get_by_text(f"Coding as {CODER}").wait_for()
    assert CODER.split()[0] not in page.url  # never a name in the address

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Your name").wait_for()
    page.reload()
    page.get_by_label("Your name").wait_for()
    other_tab.reload()
    other_tab.get_by_label("Your name").wait_for()


def test_a_tampered_cookie_signs_nobody_in(served, browser):
    address, _, _ = served
    page = new_page(browser)
    sign_in(page, address)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    tampered = cookie["value"][:-1] + ("A" if cookie["value"][-1] != "A" else "B")
    page.context.add_cookies([{**cookie, "value": tampered}])
    page.reload()
    page.get_by_label("Your name").wait_for()
    assert not page.get_by_text("Coding as").is_visible()


def test_a_whole_coding_session_leaves_no_error_in_the_console(served, browser, tmp_path):
    address, database, video_id = served
    page = new_page(browser)
    sign_in(page, address)
    page.get_by_role("button", name="Open the demo clip").click()
    page.locator(TIMELINE).wait_for()
    wait_until_idle(page)
    page.wait_for_timeout(1000)

    flat_drag(page, "AU12", 0.0, 0.03)
    first, last = selected_range(page)
    outside_fields(page)
    page.keyboard.press("a")
    page.get_by_text(f"Stored: AU12, frames {first}–{last} absent.").wait_for()
    page.get_by_role("button", name="Undo").click()
    page.get_by_text("Undone.").wait_for()
    page.get_by_role("button", name="Redo").click()
    page.get_by_text("Redone.").wait_for()
    assert reviewed(database, video_id, first, AU12)

    outside_fields(page)
    page.keyboard.press("r")
    page.get_by_text("Review: ").wait_for()
    page.get_by_role("button", name="Accept pre-fill").click()
    page.get_by_text(re.compile("^(Pre-fill accepted|Already reviewed): ")).wait_for()

    page.get_by_role("button", name="Learn from my corrections").click()
    report = page.locator("[data-testid='stExpander']").filter(has_text="what happened")
    report.first.wait_for()
    assert report.first.get_by_text("reviewed ").count() >= 8  # every AU says what was done
    page.mouse.move(5, 5)  # no tooltip over the picture
    page.set_viewport_size({"width": 1400, "height": 1900})  # the timelines below the report
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; })")
    page.wait_for_timeout(1000)
    page.screenshot(path=tmp_path / "screenshot.png")
    page.set_viewport_size({"width": 1400, "height": 1150})
    if os.environ.get("AU_ANNOTATOR_SCREENSHOT"):
        shutil.copy(tmp_path / "screenshot.png", os.environ["AU_ANNOTATOR_SCREENSHOT"])

    wait_until_idle(page)
    page.get_by_text("Export", exact=True).click()
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"^Download .+\.txt$")).click()
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("AU1,") and len(lines) == 473
    assert page.console_errors == []
