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
import time

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
TIMELINE = ".st-key-timeline .nsewdrag"  # the plot area of the AU timelines chart
SEEK_BAR = ".st-key-seek_bar .nsewdrag"
AUS = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")


def wait_until_idle(page) -> None:
    """Until the app's script run has ended (elements of a run in progress may be stale)."""
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid^='stStatusWidgetRunning']\")",
        timeout=TIMEOUT_MS)


def export_lines(page) -> list[str]:
    wait_until_idle(page)
    page.get_by_text("Export", exact=True).click()
    code = page.locator("[data-testid='stCode']").first
    code.wait_for(timeout=TIMEOUT_MS)
    return code.inner_text().splitlines()


def export_column_once(page, column: int, done) -> list[str]:
    """One column of the shown export's first 11 frames once `done(column)` holds, or as shown
    after TIMEOUT_MS (a rerun may still show the previous run's export for a moment)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        values = [line.split(",")[column] for line in export_lines(page)[1:12]]
        if done(values) or time.monotonic() > deadline:
            return values
        page.wait_for_timeout(250)


def drag_across_row(page, au: str, start: float, end: float) -> None:
    """Drag from x fraction `start` to `end` of the plot area, inside the AU's row (a drag
    must start inside the plot area; one pixel in is frame 0)."""
    plot = page.locator(TIMELINE).bounding_box()
    row_height = plot["height"] / len(AUS)
    top = plot["y"] + row_height * AUS.index(au)
    page.mouse.move(plot["x"] + 1 + plot["width"] * start, top + row_height * 0.2)
    page.mouse.down()
    page.mouse.move(plot["x"] + plot["width"] * end, top + row_height * 0.8, steps=10)
    page.mouse.up()


def selected_range(page) -> tuple[int, int]:
    """The label range once the box selection has reached the app (Last frame moved off 0)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        last = int(page.get_by_label("Last frame").input_value())
        if last:
            return int(page.get_by_label("First frame").input_value()), last
        page.wait_for_timeout(200)
    raise AssertionError("the box selection never reached the label range")


def test_a_range_marked_in_the_browser_survives_a_reload(tmp_path):
    with running_app(tmp_path / "annotations.sqlite3") as (url, _), \
            playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1150})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.get_by_label("Your name").fill("browser coder")
        page.get_by_role("button", name="Start coding").click()
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
        browser.close()
    assert au4_after[: last + 1] == [value] * (last + 1)
    assert au4_after[last + 1 :] == au4_before[last + 1 :]


def flat_drag(page, au: str, start: float, end: float) -> None:
    """A perfectly horizontal drag inside the AU's row (Plotly's default would turn it into a
    band over every row)."""
    plot = page.locator(TIMELINE).bounding_box()
    row_height = plot["height"] / len(AUS)
    y = plot["y"] + row_height * (AUS.index(au) + 0.5)
    page.mouse.move(plot["x"] + 1 + plot["width"] * start, y)
    page.mouse.down()
    page.mouse.move(plot["x"] + plot["width"] * end, y, steps=10)
    page.mouse.up()


def test_a_flat_drag_across_the_au12_row_stores_an_au12_correction_and_r_reviews_next(tmp_path):
    with running_app(tmp_path / "annotations.sqlite3") as (url, _), \
            playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1150})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.get_by_label("Your name").fill("browser coder")
        page.get_by_role("button", name="Start coding").click()
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
        browser.close()
    assert first == 0 and 3 <= last <= 11
    assert au12_after[: last + 1] == [value] * (last + 1)
