"""Does processing one video use both cores? Frames/s of the analysis of one clip (decode,
landmarks of every face, subjects, features, expressions: annotator.processing.extraction
.analyse_video, what `process` does for one video before predicting) in a process held to one
core, then in one that may use all of this machine's, in one run.

Each run is a fresh process (so neither inherits the other's warm caches or threads), pinned
with sched_setaffinity (OpenCV runs on one thread in the analysis, as in the app); models are
loaded before the clock starts, as the app loads them once. The two kinds of run take turns,
`--rounds` pairs, the first of each pair alternating, so that the drift of a shared machine
falls on both alike; each pair gives a ratio. Before each pair, a fixed busy loop runs alone
on the first core, then on every core at once: `capacity` is how many times the first run's
work the cores did at once (the number of cores on a machine of its own; less where the host
lends a core to other work, which a run held to one core never feels). The last line is
`one_core_fps=… all_cores_fps=… ratio=… capacity=… cores=… rounds=…`: the medians of the
rounds.

Run: python benchmarks/one_video_speed.py [VIDEO (default: the demo clip)] [--repeat N]
     [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"


def analysis_fps(video: Path, repeat: int) -> float:
    """Frames/s of analyse_video on `video` in this process (the backend loaded first)."""
    from annotator.processing.extraction import analyse_video, face_identity, make_backend
    from annotator.processing.video import VideoSource

    backend = make_backend("dlib")
    face_identity()
    frames, seconds = 0, 0.0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="au-annotator-one-video-") as scratch:
            started = time.perf_counter()
            with VideoSource(video) as source:
                subjects, _ = analyse_video(source, backend, scratch=Path(scratch))
            seconds += time.perf_counter() - started
            frames += len(subjects)
    return frames / seconds


def measured(video: Path, repeat: int, cores: int) -> float:
    """analysis_fps in a fresh process held to the first `cores` cores."""
    allowed = sorted(os.sched_getaffinity(0))[:cores]
    code = ("import os, sys; from pathlib import Path; "
            f"os.sched_setaffinity(0, {allowed}); "
            "sys.path.insert(0, sys.argv[1]); import one_video_speed as bench; "
            "print(bench.analysis_fps(Path(sys.argv[2]), int(sys.argv[3])))")
    found = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(video),
                            str(repeat)], capture_output=True, text=True, check=True)
    return float(found.stdout.strip().splitlines()[-1])


_BUSY = ("import sys, time; sys.stdin.readline(); t = time.perf_counter(); x = 0\n"
         "for i in range(8_000_000): x += i\nprint(time.perf_counter() - t)")


def capacity(cores: list[int]) -> float:
    """How many times a busy loop's work alone on cores[0] the `cores` do at once (each
    child pinned to its core; all started before any is let go)."""
    def loops(on: list[int]) -> list[float]:
        children = [subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity("
                                      f"0, [{core}]); exec({_BUSY!r})"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    for core in on]
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate()[0] for child in children]
        if any(child.returncode for child in children):
            raise RuntimeError("the busy loop failed")
        return [float(output) for output in outputs]

    alone = loops(cores[:1])[0]
    return sum(alone / seconds for seconds in loops(cores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, nargs="?", default=DEMO)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rounds < 1 or args.repeat < 1:
        parser.error("--rounds and --repeat take 1 or more")
    cores = len(os.sched_getaffinity(0))
    ones, everys, ratios, capacities = [], [], [], []
    for round_ in range(args.rounds):
        capacities.append(capacity(sorted(os.sched_getaffinity(0))))
        order = (1, cores) if round_ % 2 == 0 else (cores, 1)
        order = order if cores > 1 else (1,)
        found = {count: measured(args.video, args.repeat, count) for count in order}
        ones.append(found[1])
        everys.append(found[cores])
        ratios.append(found[cores] / found[1])
        print(f"round {round_ + 1}: cores=1 fps={found[1]:.1f} cores={cores} "
              f"fps={found[cores]:.1f} ratio={ratios[-1]:.2f} capacity={capacities[-1]:.2f}",
              flush=True)
    print(f"one_core_fps={statistics.median(ones):.1f} "
          f"all_cores_fps={statistics.median(everys):.1f} "
          f"ratio={statistics.median(ratios):.2f} capacity={statistics.median(capacities):.2f} "
          f"cores={cores} rounds={args.rounds}")


if __name__ == "__main__":
    main()
