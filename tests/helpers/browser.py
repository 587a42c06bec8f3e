"""A real browser for the tests that drive the app as a coder does: Debian's chromium, driven
by Playwright (tests/conftest.py's `browser` fixture launches it once per test file), and the
moves those tests share on the coder's page."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pytest

from helpers.polling import poll_until

CHROMIUM = shutil.which("chromium")
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 1150}
TIMELINE = ".st-key-timeline .nsewdrag"  # the plot area of the AU timelines chart
AUS = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")  # its rows, top down


@contextlib.contextmanager
def launched_chromium() -> Iterator:
    """Chromium under Playwright, closed on exit; skips the test when either is missing."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright (pip package) not installed")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium not installed (apt-get install chromium; "
                    "scripts/test does it)")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, context=None, viewport: dict | None = None):
    """A tab (in a fresh browser profile unless `context`) that collects console errors in
    `page.console_errors`; close its profile with `page.context.close()`."""
    context = context or browser.new_context(viewport=viewport or VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    return page


def start_coding(page, coder: str = "browser coder") -> None:
    """Name the coder on the sign-in screen and go on."""
    page.get_by_label("Your name").fill(coder)
    page.get_by_role("button", name="Start coding").click()


def wait_until_idle(page) -> None:
    """Until the app's script run has ended (elements of a run in progress may be stale)."""
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid^='stStatusWidgetRunning']\")",
        timeout=TIMEOUT_MS)


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


def page_wait(page):
    """`sleep` for poll_until in a browser test: the page handles its events meanwhile."""
    return lambda seconds: page.wait_for_timeout(seconds * 1000)


def selected_range(page) -> tuple[int, int]:
    """The label range once the box selection has reached the app (Last frame moved off 0)."""
    def label_range() -> tuple[int, int]:
        return (int(page.get_by_label("First frame").input_value()),
                int(page.get_by_label("Last frame").input_value()))

    return poll_until(label_range, lambda found: found[1], TIMEOUT_MS / 1000, 0.2,
                      "the box selection reaching the label range", page_wait(page))
