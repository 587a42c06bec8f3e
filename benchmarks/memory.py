"""Peak memory of `au-annotator process` on 640×360 videos of 1, 10 and 60 minutes.

Each video is the demo clip (640×360, a real face) looped by remuxing its packets with shifted
timestamps, so making a 60-minute file takes seconds and every frame holds a face. Each length
is processed by `au-annotator process` in its own process, from an empty cache into an empty
database, and its peak resident set (ru_maxrss of the finished child) is reported. The goal is
under 600 MB at every length: memory must not grow with the video. The last line is
`peak_rss_mb 1min=… 10min=… 60min=… goal=600`.

Run: python benchmarks/memory.py [--minutes 1 10 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"
GOAL_MB = 600


def looped_video(source: Path, target: Path, minutes: float) -> int:
    """`source` repeated (packets copied, timestamps shifted) until it lasts `minutes`;
    returns the number of frames written."""
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        packets = [p for p in src.demux(stream) if p.dts is not None]
        rate = Fraction(stream.average_rate)
        time_base = stream.time_base
        with av.open(str(target), "w") as dst:
            out = dst.add_stream_from_template(stream)
            first_dts = min(p.dts for p in packets)
            step = int(round(1 / rate / time_base))  # one frame, in time_base units
            span = max(p.dts for p in packets) - first_dts + step  # one clip
            wanted = int(minutes * 60 * rate)
            written, loop = 0, 0
            while written < wanted:
                for packet in packets:
                    if written >= wanted:
                        break
                    copy = av.Packet(bytes(packet))
                    copy.pts = packet.pts - first_dts + loop * span
                    copy.dts = packet.dts - first_dts + loop * span
                    copy.time_base = time_base
                    copy.is_keyframe = packet.is_keyframe
                    copy.stream = out
                    dst.mux(copy)
                    written += 1
                loop += 1
    return written


def peak_rss_of_process(video: Path, scratch: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of `au-annotator process VIDEO` from an empty cache."""
    env = {**os.environ, "AU_ANNOTATOR_CACHE": str(scratch / "cache")}
    command = [sys.executable, "-m", "annotator.cli", "process", str(video),
               "--db", f"sqlite:///{scratch / 'annotations.sqlite3'}", "--workers", "1"]
    log = scratch / "process.log"  # a file, not a pipe: a full pipe would stall the child
    started = time.perf_counter()
    with open(log, "w") as stderr:
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"process failed on {video.name}:\n{log.read_text()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60],
                        help="video lengths to measure (default: 1 10 60)")
    args = parser.parse_args()
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="au-annotator-memory-bench-") as scratch:
        root = Path(scratch)
        for minutes in args.minutes:
            video = root / f"demo-{minutes:g}min.mp4"
            frames = looped_video(DEMO, video, minutes)
            run = root / f"run-{minutes:g}"
            run.mkdir()
            peak, seconds = peak_rss_of_process(video, run)
            peaks[minutes] = peak
            print(f"minutes={minutes:g} frames={frames} size_mb={video.stat().st_size / 1e6:.0f} "
                  f"peak_rss_mb={peak:.0f} seconds={seconds:.0f} fps={frames / seconds:.0f}",
                  flush=True)
            video.unlink()
    figures = " ".join(f"{minutes:g}min={peak:.0f}" for minutes, peak in peaks.items())
    print(f"peak_rss_mb {figures} goal={GOAL_MB}")


if __name__ == "__main__":
    main()
