"""The browser's copy of a video: what the coder's player plays.

A browser plays a video itself when its container and codecs are ones every browser decodes
(H.264, VP9 or AV1 in MP4/QuickTime; VP8/VP9/AV1 in WebM; 8-bit 4:2:0 pictures). Any other
video (HEVC .mov, MPEG-4 Part 2 or MJPEG .avi, 10-bit or 4:4:4 H.264, PCM sound) gets a proxy
once, at processing time: H.264 with AAC sound in an MP4 whose index comes first, holding every
frame that PyAV decodes (rotation applied, as `annotator.processing.video.iter_frames` gives them)
at its own presentation time, so frame n of the proxy is frame n of our numbering. The proxy has no
B-frames and a keyframe every second, so stepping back in the browser decodes little.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np

from annotator.processing.video import (
    Playback,
    VideoSource,
    frame_to_rgb,
    open_container,
    open_video,
    playback_of,
)
from model.errors import InputError
from model.files import atomic_path

log = logging.getLogger(__name__)

PROXY_NAME = "proxy.mp4"
MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
WEBM_FAMILY = "matroska,webm"
# container (as FFmpeg names it) → (video codecs, sound codecs, MIME type) browsers play
BROWSER_FORMATS = {
    MP4_FAMILY: ({"h264", "vp9", "av1"}, {"aac", "mp3", "opus", "flac"}, "video/mp4"),
    WEBM_FAMILY: ({"vp8", "vp9", "av1"}, {"opus", "vorbis"}, "video/webm"),
}
BROWSER_PIXEL_FORMATS = {"yuv420p", "yuvj420p"}
PROXY_PRESET, PROXY_QUALITY = "veryfast", "20"  # x264 speed preset and constant quality (CRF)
SOUND_FRAME_SAMPLES = 1024  # what the AAC encoder takes per frame


def browser_plays(video: str | Path | VideoSource) -> bool:
    """Whether browsers decode this file as it is (container, codecs and picture format); an
    open VideoSource answers without opening the file again."""
    if isinstance(video, VideoSource):
        return plays_in_browser(video.playback)
    with open_container(Path(video)) as container:
        return plays_in_browser(playback_of(container))


def plays_in_browser(playback: Playback) -> bool:
    videos, sounds, _ = BROWSER_FORMATS.get(playback.container, (set(), set(), ""))
    return (playback.video_codec in videos and playback.pixel_format in BROWSER_PIXEL_FORMATS
            and all(codec in sounds for codec in playback.sound_codecs))


def mime_type(path: str | Path) -> str:
    """The MIME type to serve a playable file with (its container's)."""
    with open_container(Path(path)) as container:
        return BROWSER_FORMATS.get(container.format.name, ((), (), "video/mp4"))[2]


def playable_video(video: str | Path | VideoSource, cache_folder: Path) -> Path:
    """The file the player plays: the video itself when browsers decode it, else its proxy in
    `cache_folder` (made now when missing, e.g. for a video processed by an older version)."""
    path = video.path if isinstance(video, VideoSource) else Path(video)
    if browser_plays(video):
        return path
    proxy = cache_folder / PROXY_NAME
    if not proxy.is_file():
        make_proxy(path, proxy)
    return proxy


def make_proxy(path: str | Path, target: Path) -> Path:
    """Write the H.264/AAC proxy of `path` to `target` (atomically) and return `target`."""
    path = Path(path)
    log.info("%s: making a browser copy at %s", path, target)
    info = open_video(path)  # the picture size as shown, rotation applied
    with open_container(path) as source, atomic_path(target) as temporary:
        video_in = source.streams.video[0]
        video_in.thread_type = "AUTO"
        sound_in = source.streams.audio[0] if source.streams.audio else None
        with av.open(str(temporary), "w", format="mp4",
                     options={"movflags": "+faststart"}) as proxy:
            picture = _Pictures(proxy, video_in, info.width, info.height)
            sound = None if sound_in is None else _Sound(proxy, sound_in)
            try:
                for packet in source.demux(*(s for s in (video_in, sound_in) if s is not None)):
                    flushing = packet.dts is None  # the empty packets at the end
                    if packet.stream is video_in:
                        for frame in video_in.decode(None if flushing else packet):
                            picture.add(frame)
                    elif sound is not None:
                        for frame in sound_in.decode(None if flushing else packet):
                            sound.add(frame)
            except av.error.FFmpegError as error:
                raise InputError(path, f"cannot make a browser copy after frame "
                                       f"{picture.count} ({error})") from None
            picture.finish()
            if sound is not None:
                sound.finish()
    return target


class _Pictures:
    """Decoded frames → H.264 at the same presentation times (pts in the source's time base)."""

    def __init__(self, proxy, video_in, width: int, height: int):
        self.proxy = proxy
        self.time_base = video_in.time_base
        rate = video_in.average_rate or video_in.guessed_rate or 25
        self.fallback_step = 1.0 / float(rate)
        self.stream = proxy.add_stream("libx264", rate=rate,
                                       options={"preset": PROXY_PRESET, "crf": PROXY_QUALITY})
        self.stream.pix_fmt = "yuv420p"
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.codec_context.time_base = video_in.time_base
        self.stream.codec_context.gop_size = max(1, round(float(rate)))
        self.stream.codec_context.max_b_frames = 0
        self.count = 0
        self.last_pts: int | None = None

    def add(self, frame: av.VideoFrame) -> None:
        picture = av.VideoFrame.from_ndarray(_even(frame_to_rgb(frame)), format="rgb24")
        pts = frame.pts
        if pts is None:  # as iter_frames times such frames
            pts = round(self.count * self.fallback_step / float(self.time_base))
        if self.last_pts is not None and pts <= self.last_pts:
            log.warning("frame %d repeats a presentation time; shifted by one tick", self.count)
            pts = self.last_pts + 1
        picture.pts, picture.time_base = pts, self.time_base
        self.last_pts = pts
        self.count += 1
        self.proxy.mux(self.stream.encode(picture))

    def finish(self) -> None:
        self.proxy.mux(self.stream.encode(None))


class _Sound:
    """Decoded sound → AAC (mono or stereo, the source's sample rate)."""

    def __init__(self, proxy, sound_in):
        self.proxy = proxy
        rate = sound_in.codec_context.sample_rate or 48000
        layout = "mono" if sound_in.codec_context.layout.nb_channels == 1 else "stereo"
        self.stream = proxy.add_stream("aac", rate=rate, layout=layout)
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate,
                                           frame_size=SOUND_FRAME_SAMPLES)

    def add(self, frame: av.AudioFrame | None) -> None:
        for resampled in self.resampler.resample(frame):
            self.proxy.mux(self.stream.encode(resampled))

    def finish(self) -> None:
        self.add(None)
        self.proxy.mux(self.stream.encode(None))


def _even(rgb: np.ndarray) -> np.ndarray:
    """H.264 4:2:0 needs even sides: repeat the last row or column when one is odd."""
    height, width = rgb.shape[:2]
    return np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
