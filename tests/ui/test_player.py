"""The coder's player in a real browser (Debian's chromium, driven by Playwright) against
`au-annotator app`: key presses step exactly, the frame shown is the server's decode of that
frame, playback runs in real time with sound, the page and the player share one playhead, and
a video the browser cannot decode (HEVC in QuickTime) plays through its proxy.

One app serves three processed videos for the whole module: the demo clip, the HEVC .mov and a
clip whose every frame shows its own number as eight black or white bars (so neighbouring
frames differ in at least one bar and a frame is recognised by its pixels).
"""

from __future__ import annotations

import base64
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from helpers.app_server import running_app
from helpers.browser import new_page, start_coding

from annotator.processing import extraction, prediction
from annotator.processing.proxy import PROXY_NAME
from annotator.processing.video import iter_frames
from annotator.services import Services

pytestmark = pytest.mark.slow
PLAYER = ".player"
CODED_SIZE, CODED_FRAMES, CODED_FPS, BARS = (320, 192), 150, 25, 8


def coded_clip(path) -> None:
    """H.264 + AAC, frame i shows i in binary (bar b white when bit b is set), a tone."""
    width, height = CODED_SIZE
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=CODED_FPS, options={"crf": "18"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=48000, layout="stereo")
        for index in range(CODED_FRAMES):
            bits = (index >> np.arange(BARS)) & 1
            rgb = np.repeat(np.repeat(bits * 255, width // BARS), 3).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.tile(rgb.reshape(1, width, 3), (height, 1, 1)))
            frame.pts, frame.time_base = index, Fraction(1, CODED_FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = np.arange(48000 * CODED_FRAMES // CODED_FPS) / 48000
        tone = np.sin(2 * np.pi * 440 * samples).astype(np.float32) * 0.2
        for start in range(0, len(tone), 1024):
            chunk = np.ascontiguousarray(np.tile(tone[start:start + 1024], (2, 1)))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))


@pytest.fixture(scope="module")
def videos(tmp_path_factory, demo_video, single_face) -> dict:
    folder = tmp_path_factory.mktemp("player")
    coded = folder / "coded.mp4"
    coded_clip(coded)
    database = folder / "annotations.sqlite3"
    paths = {"demo": demo_video, "hevc": single_face.with_name("single_face_hevc.mov"),
             "coded": coded}
    ids = {name: prediction.process_video(path, Services.open(f"sqlite:///{database}")).video_id
           for name, path in paths.items()}
    return {"database": database, "ids": ids, "paths": paths}


@pytest.fixture(scope="module")
def browser(browser, videos):
    """The shared browser, with the app serving these videos at `browser.app_url`."""
    with running_app(videos["database"]) as (url, _):
        browser.app_url = url
        yield browser


def open_player(browser, videos, name: str):
    page = new_page(browser)
    page.goto(f"{browser.app_url}/?video={videos['ids'][name]}")
    start_coding(page, "tester")  # who codes is asked, never in the URL
    page.locator(f"{PLAYER}[data-ready=true]").wait_for()
    page.locator("h3").first.click()  # keys go to the page, not a widget
    return page


def shown(page) -> int:
    return int(page.locator(PLAYER).get_attribute("data-frame"))


def wait_for_frame(page, frame: int) -> None:
    page.locator(f"{PLAYER}[data-frame='{frame}']").wait_for()


def browser_pixels(page) -> np.ndarray:
    """The picture the player shows, as the browser draws it: (H, W, 3) uint8 (handed over
    as a PNG: a list of every channel value took seconds a frame)."""
    url = page.locator(PLAYER).evaluate("""player => {
        const video = player.querySelector("video");
        const canvas = document.createElement("canvas");
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        return canvas.toDataURL("image/png");
    }""")
    png = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def overlay_drawn(page) -> bool:
    """Whether anything is drawn over the video (its landmarks arrive shortly after it)."""
    page.wait_for_timeout(300)
    return page.locator(PLAYER).evaluate(
        "player => { const canvas = player.querySelector('canvas');"
        " const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width,"
        " canvas.height).data; return pixels.some(value => value > 0); }")


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b[: a.shape[0], : a.shape[1]]).mean())


def test_ten_arrow_presses_100_ms_apart_advance_exactly_ten_frames(browser, videos):
    page = open_player(browser, videos, "demo")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(100)
    wait_for_frame(page, 10)
    page.wait_for_timeout(400)
    assert shown(page) == 10
    for _ in range(30):  # a held key: repeated keydowns, as fast as autorepeat sends them
        page.keyboard.down("ArrowLeft")
        page.wait_for_timeout(30)
    page.keyboard.up("ArrowLeft")
    wait_for_frame(page, 0)  # clamped at the first frame, never below
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("PageDown")  # 23.98 fps: one second is 24 frames
    wait_for_frame(page, 34)
    page.wait_for_timeout(1000)
    assert shown(page) == 34  # nothing more arrives late
    # the page learnt the frame once stepping stopped
    assert page.get_by_label("Frame", exact=True).input_value() == "34"
    page.context.close()


def test_the_frame_shown_after_stepping_is_the_servers_decode_of_that_frame(browser, videos):
    decoded = [frame.rgb for frame in iter_frames(videos["paths"]["coded"])]
    page = open_player(browser, videos, "coded")
    for keys, frame in ((["ArrowRight"] * 3, 3), (["Shift+ArrowRight"], 13),
                        (["PageDown", "PageDown"], 63), (["ArrowLeft"], 62), (["End"], 149),
                        (["PageUp", "Shift+ArrowLeft"], 114)):
        for key in keys:
            page.keyboard.press(key)
        wait_for_frame(page, frame)
        pixels = browser_pixels(page)
        assert difference(pixels, decoded[frame]) < 6, f"frame {frame}"
        for neighbour in (frame - 1, frame + 1):
            if 0 <= neighbour < len(decoded):
                assert difference(pixels, decoded[neighbour]) > 20, f"{frame} vs {neighbour}"
    page.context.close()


def test_space_plays_two_seconds_at_normal_speed_with_sound(browser, videos):
    page = open_player(browser, videos, "demo")
    page.keyboard.press("Space")
    page.wait_for_timeout(2000)
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    fps = 24000 / 1001
    assert abs(shown(page) - 2 * fps) <= 0.1 * 2 * fps
    sound = page.locator(PLAYER).evaluate(
        "player => { const video = player.querySelector('video');"
        " return [video.muted, video.webkitAudioDecodedByteCount]; }")
    assert sound[0] is False and sound[1] > 0
    page.context.close()


def test_the_player_and_the_timelines_share_one_playhead(browser, videos):
    page = open_player(browser, videos, "demo")
    bar = page.locator(".st-key-seek_bar .nsewdrag").bounding_box()
    page.mouse.click(bar["x"] + bar["width"] * 0.5, bar["y"] + bar["height"] * 0.5)
    page.wait_for_function("() => document.querySelector('.st-key-seek_bar .au-playhead')")
    page.locator(f"{PLAYER}:not([data-frame='0'])").wait_for()
    clicked = shown(page)
    assert abs(clicked - 236) <= 4  # the middle of 472 frames, to a marker's width
    playhead = page.locator(".st-key-seek_bar .au-playhead").bounding_box()
    assert abs(playhead["x"] + 1 - (bar["x"] + bar["width"] * (clicked + 0.5) / 472)) <= 1
    assert page.locator(".st-key-timeline .au-playhead").count() == 1
    assert page.locator(".st-key-seek_bar .shapelayer path").count() == 0  # no second one
    page.get_by_label("Last frame").fill("300")
    page.get_by_label("Last frame").press("Enter")  # the range fields seek the player too
    wait_for_frame(page, 300)
    page.locator("h3").first.click()
    page.keyboard.press("l")  # loop the range 0–300 from its first frame
    page.wait_for_timeout(500)
    assert 0 < shown(page) < 30
    page.context.close()


def test_an_hevc_mov_plays_through_its_proxy_with_face_overlay(browser, videos):
    source = videos["paths"]["hevc"]
    assert (extraction.video_cache_dir(source, "dlib") / PROXY_NAME).is_file()
    page = open_player(browser, videos, "hevc")
    page.keyboard.press("Shift+ArrowRight")
    wait_for_frame(page, 10)
    decoded = next(frame.rgb for frame in iter_frames(source) if frame.index == 10)
    assert difference(browser_pixels(page), decoded) < 8
    assert overlay_drawn(page)  # face box and landmarks
    page.keyboard.press("o")
    assert not overlay_drawn(page)
    page.keyboard.press("Space")
    page.wait_for_timeout(1000)
    assert shown(page) > 20
    page.context.close()


def test_the_video_is_served_in_ranges_and_only_to_pages_that_opened_it(browser, videos):
    page = open_player(browser, videos, "demo")
    source = page.locator(PLAYER).evaluate("player => player.querySelector('video').currentSrc")
    part = page.request.get(source, headers={"Range": "bytes=1000-1999"})
    assert part.status == 206 and len(part.body()) == 1000
    assert part.body() == videos["paths"]["demo"].read_bytes()[1000:2000]
    assert page.request.get(source.replace("/api/videos/", "/api/videos/x")).status == 404
    page.context.close()


def test_h_pressed_right_after_stepping_sets_the_range_to_the_frame_stepped_to(browser,
                                                                               videos):
    page = open_player(browser, videos, "demo")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("h")  # before the page learnt the frame: H waits for it
    page.get_by_label("First frame").and_(page.locator("[value='3']")).wait_for()
    assert page.get_by_label("Last frame").input_value() == "3"
    assert shown(page) == 3
    page.context.close()
