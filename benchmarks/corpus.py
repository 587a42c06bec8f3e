"""Pre-labelling a corpus: frames/s of one worker against several (default 2), in one run.

The corpus is COPIES copies of the three shared clips (single_face, no_face, the demo clip),
each remuxed with its own metadata so every file has its own content hash: same frames, nothing
skipped. Each run starts from an empty cache folder and an empty database, and is timed by the
wall clock end to end (finding and hashing the files, worker start-up, storing). Frames are the
videos' decoded frames, checked against a decode of the clips, so a miscount stops the run
instead of printing a rate. Each run's line also gives the CPU time it took (this process and
its workers, all threads) per frame: the work done, which other load on a shared machine
changes far less than the wall clock. The last line is
`serial_fps=… parallel_fps=… ratio=… cores=…`.

Run: python benchmarks/corpus.py [--copies N] [--workers N (default 2)]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import av

from annotator.processing.corpus import CorpusOptions, available_cores, label_corpus
from annotator.processing.video import iter_frames
from annotator.services import Services

ROOT = Path(__file__).resolve().parents[1]
CLIPS = (ROOT / "tests" / "data" / "single_face.mp4", ROOT / "tests" / "data" / "no_face.mp4",
         ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4")


def remuxed_copy(source: Path, target: Path, label: str) -> Path:
    """The same video stream in a new file whose metadata (so content hash) is its own."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        dst.metadata["comment"] = label
        video_in = src.streams.video[0]
        video_out = dst.add_stream_from_template(video_in)
        for packet in src.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            dst.mux(packet)
    return target


def make_corpus(folder: Path, copies: int) -> Path:
    for copy in range(copies):
        for clip in CLIPS:
            remuxed_copy(clip, folder / f"{clip.stem}-{copy}.mp4", f"corpus copy {copy}")
    return folder


def decoded_frames(copies: int) -> int:
    """Frames of the whole corpus, as decoding the clips finds them (not as containers claim)."""
    return copies * sum(1 for clip in CLIPS for _ in iter_frames(clip))


def frames_per_second(corpus: Path, scratch: Path, workers: int, frames: int) -> float:
    """Frames/s of processing the whole corpus from an empty cache into an empty database."""
    os.environ["AU_ANNOTATOR_CACHE"] = str(scratch / "cache")  # worker processes inherit it
    url = f"sqlite:///{scratch / 'annotations.sqlite3'}"
    started, cpu = time.perf_counter(), cpu_seconds()
    summary = label_corpus([corpus], Services.open(url), CorpusOptions(workers=workers))
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if summary.failed() or summary.skipped():
        raise SystemExit(f"{len(summary.failed())} failed, {len(summary.skipped())} skipped: "
                         "every copy should be processed")
    if summary.frames != frames:
        raise SystemExit(f"the run counted {summary.frames} frames; decoding finds {frames}")
    rate = frames / seconds
    print(f"workers={workers} videos={len(summary.stored())} frames={frames} "
          f"seconds={seconds:.1f} fps={rate:.1f} cpu_ms_per_frame={1000 * cpu / frames:.2f}",
          flush=True)
    return rate


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its workers, every thread: the children
    it has waited for, and those still running with the children they waited for (the
    workers start from a fork server, a child of this process that outlives the run)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime + sum(
        _live_cpu_seconds(pid) for pid in _children())


def _children() -> list[int]:
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        pids += map(int, (task / "children").read_text().split())
    return pids


def _live_cpu_seconds(pid: int) -> float:
    """utime, stime, and its waited-for children's (fields 14-17 of /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # ended meanwhile: counted in RUSAGE_CHILDREN once waited for
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8,
                        help="copies of the three clips (639 frames each set)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the parallel run (default: 2)")
    args = parser.parse_args()
    frames = decoded_frames(args.copies)
    with tempfile.TemporaryDirectory(prefix="au-annotator-corpus-bench-") as scratch:
        root = Path(scratch)
        (root / "corpus").mkdir()
        corpus = make_corpus(root / "corpus", args.copies)
        serial = frames_per_second(corpus, root / "serial", 1, frames)
        parallel = frames_per_second(corpus, root / "parallel", args.workers, frames)
    print(f"serial_fps={serial:.1f} parallel_fps={parallel:.1f} ratio={parallel / serial:.2f} "
          f"cores={available_cores()}")


if __name__ == "__main__":
    main()
