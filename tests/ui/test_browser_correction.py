"""One real-browser session: Debian's chromium, driven by Playwright, against `au-annotator app`.

A coder names themself, processes the demo clip, drags across the AU4 timeline row to select
frames, marks them with the keyboard, clicks the seek bar to move the player, reloads the
page (still signed in), and the correction is still there.
With AU_ANNOTATOR_SCREENSHOT=docs/screenshot.png the main screen is saved there (the README's
picture); it is always saved in the test's temp folder.
"""

from __future__ import annotations

import os
import shutil

import pytest
from helpers.app_server import running_app
from helpers.browser import (
    TIMELINE,
    TIMEOUT_MS,
    drag_across_row,
    flat_drag,
    new_page,
    page_wait,
    selected_range,
    start_coding,
    wait_until_idle,
)
from helpers.polling import poll_until

pytestmark = pytest.mark.slow
SEEK_BAR = ".st-key-seek_bar .nsewdrag"


def export_lines(page) -> list[str]:
    wait_until_idle(page)
    page.get_by_text("Export", exact=True).click()
    code = page.locator("[data-testid='stCode']").first
    code.wait_for(timeout=TIMEOUT_MS)
    return code.inner_text().splitlines()


def export_column_once(page, column: int, done) -> list[str]:
    """One column of the shown export's first 11 frames once `done(column)` holds (a rerun
    may still show the previous run's export for a moment)."""
    return poll_until(lambda: [line.split(",")[column] for line in export_lines(page)[1:12]],
                      done, TIMEOUT_MS / 1000, 0.25, f"export column {column}", page_wait(page))


def test_a_range_marked_in_the_browser_survives_a_reload(tmp_path, browser):
    with running_app(tmp_path / "annotations.sqlite3") as (url, _):
        page = new_page(browser)
        page.goto(url)
        start_coding(page)
        page.get_by_role("button", name="Open the demo clip").click()
        page.locator(TIMELINE).wait_for()  # the timelines: processing finished
        au4_before = [line.split(",")[2] for line in export_lines(page)[1:12]]

        drag_across_row(page, "AU4", 0.0, 0.015)  # frame 0 to about frame 7
        first, last = selected_range(page)
        assert first == 0 and 3 <= last <= 11
        # mark the opposite of the model's label at frame 0, so the change is visible
        key, value = ("a", "0") if au4_before[0] == "1" else ("p", "1")
        page.locator("h3").first.click()  # focus off the panel's radio: keys go to shortcuts
        page.keyboard.press(key)
        page.get_by_text(f"Stored: AU4, frames 0–{last}").wait_for()
        bar = page.locator(SEEK_BAR).bounding_box()
        page.mouse.click(bar["x"] + bar["width"] * 0.5, bar["y"] + bar["height"] * 0.5)
        page.wait_for_function("() => [...document.querySelectorAll('img')].some("
                               "i => /^frame 2[2-4][0-9] of 471/.test(i.alt || '')) || "
                               "document.body.innerText.match(/frame 2[2-4][0-9] of 471/)")
        page.screenshot(path=tmp_path / "screenshot.png", full_page=True)
        if os.environ.get("AU_ANNOTATOR_SCREENSHOT"):
            shutil.copy(tmp_path / "screenshot.png", os.environ["AU_ANNOTATOR_SCREENSHOT"])

        page.reload()  # a new session: the sign-in and the address's video come back
        page.locator(TIMELINE).wait_for()
        au4_after = [line.split(",")[2] for line in export_lines(page)[1:12]]
        page.context.close()
    assert au4_after[: last + 1] == [value] * (last + 1)
    assert au4_after[last + 1 :] == au4_before[last + 1 :]


def test_a_flat_drag_across_the_au12_row_stores_an_au12_correction_and_r_reviews_next(
        tmp_path, browser):
    with running_app(tmp_path / "annotations.sqlite3") as (url, _):
        page = new_page(browser)
        page.goto(url)
        start_coding(page)
        page.get_by_role("button", name="Open the demo clip").click()
        page.locator(TIMELINE).wait_for()
        au12_before = [line.split(",")[4] for line in export_lines(page)[1:12]]

        flat_drag(page, "AU12", 0.0, 0.015)  # the first AU (AU1) is selected before the drag
        first, last = selected_range(page)
        page.locator("h3").first.click()  # keys go to the shortcuts
        key, value = ("a", "0") if au12_before[0] == "1" else ("p", "1")
        page.keyboard.press(key)
        page.get_by_text(f"Stored: AU12, frames {first}–{last}").wait_for()
        au12_after = export_column_once(page, 4, lambda column: column[0] == value)

        page.locator("h3").first.click()
        page.keyboard.press("r")  # Review next
        page.get_by_text("Review: ").wait_for()
        page.context.close()
    assert first == 0 and 3 <= last <= 11
    assert au12_after[: last + 1] == [value] * (last + 1)
