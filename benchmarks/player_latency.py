"""The coder's player in a real browser: step latency, and opening and seeking a 30-minute video.

Builds a throwaway database and cache folder holding the demo clip (processed) and a 30-minute
320×180 25 fps H.264 video written with PyAV (a moving bar over grain, about 270 kbit/s like
low-resolution footage; no face), registered as processing would leave it: its landmark cache
(no face in any frame) and one prediction run. Starts `au-annotator app` on loopback and drives
Debian's chromium with Playwright; times are taken in the page's own clock, from the input
event to the moment the player's `data-frame` shows the frame (it is set when the browser
presents that frame, requestVideoFrameCallback):

- step: → (then ←) pressed, next frame shown; 100 steps on the demo clip, one at a time;
- open: the player mounted → first frame of the 30-minute video shown (its performance marks),
  and the whole page: load started → that frame;
- seek: a click at a random place on the player's bar → that frame shown; 20 seeks;
- video_read_mb: what arrived of the 30-minute file (range requests) to open it, and per seek.

Goals (issue 18): open under 2 s, seek under 200 ms. Run: python benchmarks/player_latency.py
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from playwright.sync_api import sync_playwright

from annotator import DEMO_VIDEO
from annotator.processing import extraction, prediction
from annotator.processing.landmarks import SubjectLandmarks
from annotator.services import Services
from db import PredictionParameters
from model.au_sets import au_names
from model.files import content_hash

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.app_server import running_app  # noqa: E402  (the tests' way to start the real app)

PLAYER = ".player"
SIZE, FPS = (320, 180), 25
# the time of the last input event (listening before the player does, which keeps its keys),
# and of every change of the frame shown, in the page's clock
INPUT_SCRIPT = """for (const type of ["keydown", "pointerdown"])
    window.addEventListener(type, () => { window.auInput = performance.now(); }, true);"""
FRAMES_SCRIPT = """player => {
    window.auFrames = [];
    new MutationObserver(() => window.auFrames.push(
        [performance.now(), Number(player.dataset.frame)])).observe(
        player, {attributes: true, attributeFilter: ["data-frame"]});
}"""
# [milliseconds from the last input, frame] of the first frame shown after it, or null
SHOWN_AFTER_INPUT = """() => { const shown = window.auFrames.find(
    ([time]) => time >= window.auInput);
    return shown ? [shown[0] - window.auInput, shown[1]] : null; }"""


def long_video(path: Path, minutes: float) -> np.ndarray:
    """Write the video; returns its frame times (seconds)."""
    width, height = SIZE
    count = int(minutes * 60 * FPS)
    rng = np.random.default_rng(0)
    grain = [rng.integers(60, 84, (height, width, 3), dtype=np.uint8) for _ in range(FPS)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS,
                                      options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(count):
            rgb = grain[index % FPS].copy()
            rgb[:, (index * 4) % width:(index * 4) % width + 8] = 230
            frame = av.VideoFrame.from_ndarray(rgb)
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return np.arange(count) / FPS


def register_long_video(url: str, path: Path, times: np.ndarray) -> int:
    frames = len(times)
    landmarks = SubjectLandmarks.empty(1, times)  # one subject, never seen
    landmarks.save(extraction.landmark_cache_path(path, "dlib"))
    aus = au_names("abaw2020")
    probabilities = np.random.default_rng(0).random((frames, len(aus)), dtype=np.float32)
    video_prediction = prediction.VideoPrediction(path, content_hash(path), FPS, *SIZE, frames,
                                                prediction.subjects_found(landmarks),
                                                {1: probabilities})
    parameters = PredictionParameters("abaw2020", dict.fromkeys(aus, 0.5), 15,
                                      details={"version": "baseline"})
    return prediction.store_prediction(Services.open(url), video_prediction, parameters,
                                       None).video_id


def open_player(browser, url: str, video_id: int, read: list[int] | None = None):
    """(page, (seconds from the player's start, and from page load, to its first frame));
    `read` collects the sizes of what arrives of the video."""
    page = browser.new_page(viewport={"width": 1400, "height": 1150})
    page.set_default_timeout(60_000)
    page.add_init_script(INPUT_SCRIPT)
    if read is not None:  # bytes that arrive for the video's (range) requests
        network = page.context.new_cdp_session(page)
        network.send("Network.enable")
        requests = set()
        network.on("Network.requestWillBeSent", lambda event: requests.add(event["requestId"])
                   if event["request"]["url"].endswith("/video") else None)
        network.on("Network.dataReceived", lambda event: read.append(event["dataLength"])
                   if event["requestId"] in requests else None)
    started = time.perf_counter()
    page.goto(f"{url}/?coder=bench&video={video_id}")
    page.locator(f"{PLAYER}[data-ready=true]").wait_for()
    page_load = time.perf_counter() - started
    player = page.evaluate("() => (performance.getEntriesByName('au-player-ready')[0].startTime"
                           " - performance.getEntriesByName('au-player-open')[0].startTime)")
    page.locator(PLAYER).evaluate(FRAMES_SCRIPT)
    page.locator("h3").first.click()  # keys go to the page, not a widget
    return page, (player / 1000, page_load)


def shown_after(page, frame: int, tolerance: int = 0) -> float:
    """Milliseconds from the last input to the next frame on screen, which must be `frame`
    (give or take `tolerance`: a click lands to a pixel)."""
    page.wait_for_function(f"({SHOWN_AFTER_INPUT})() !== null")
    milliseconds, shown = page.evaluate(SHOWN_AFTER_INPUT)
    assert abs(shown - frame) <= tolerance, f"showed frame {shown}, expected {frame}"
    return milliseconds


def step_times(page, steps: int) -> list[float]:
    timings, frame = [], 0
    for step in range(steps):
        key, move = ("ArrowRight", 1) if step < steps // 2 else ("ArrowLeft", -1)
        page.keyboard.press(key)
        frame += move
        timings.append(shown_after(page, frame))
    return timings


def seek_times(page, frames: int, seeks: int) -> list[float]:
    bar = page.locator(f"{PLAYER} .bar").bounding_box()
    timings = []
    for fraction in np.random.default_rng(1).uniform(0.02, 0.98, seeks):
        x = bar["x"] + bar["width"] * fraction
        frame = round((x - bar["x"]) / bar["width"] * frames - 0.5)
        page.mouse.click(x, bar["y"] + bar["height"] / 2)
        timings.append(shown_after(page, frame, tolerance=math.ceil(frames / bar["width"]) + 1))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seeks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ["AU_ANNOTATOR_CACHE"] = str(folder / "cache")  # the app server's too
        url = f"sqlite:///{folder / 'bench.sqlite3'}"
        demo_id = prediction.process_video(DEMO_VIDEO, Services.open(url)).video_id
        started = time.perf_counter()
        times = long_video(folder / "long.mp4", args.minutes)
        written = time.perf_counter() - started
        long_id = register_long_video(url, folder / "long.mp4", times)
        with running_app(folder / "bench.sqlite3") as (app_url, _), sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=shutil.which("chromium"),
                                             args=["--no-sandbox"])
            page, demo_opened = open_player(browser, app_url, demo_id)
            steps = step_times(page, args.steps)
            page.close()
            read: list[int] = []  # bytes of the long video the browser fetched
            page, opened = open_player(browser, app_url, long_id, read)
            read_to_open = sum(read)
            seeks = seek_times(page, len(times), args.seeks)
            browser.close()
        size_mb = (folder / "long.mp4").stat().st_size / 1e6
    print(f"demo clip 472 frames; long video {args.minutes:g} min, {len(times)} frames "
          f"{SIZE[0]}x{SIZE[1]}, {size_mb:.0f} MB (written in {written:.0f} s)")
    print(f"step_ms median={statistics.median(steps):.1f} "
          f"p95={np.percentile(steps, 95):.1f} steps={len(steps)}")
    print(f"open_s player={opened[0]:.2f} whole_page={opened[1]:.2f} goal=2 "
          f"(demo clip: player={demo_opened[0]:.2f} whole_page={demo_opened[1]:.2f})")
    print(f"seek_ms median={statistics.median(seeks):.1f} max={max(seeks):.1f} "
          f"seeks={len(seeks)} goal=200")
    print(f"video_read_mb to_open={read_to_open / 1e6:.1f} "
          f"per_seek={(sum(read) - read_to_open) / 1e6 / len(seeks):.1f}")


if __name__ == "__main__":
    main()
