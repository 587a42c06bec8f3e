"""Pre-labelling a corpus: frames/s of one process against every core, in one run.

The corpus is COPIES copies of the three shared clips (single_face, no_face, the demo clip),
each remuxed with its own metadata so every file has its own content hash: same frames, nothing
skipped. Each run starts from an empty cache folder and an empty database, and is timed end to
end (finding and hashing the files, worker start-up, storing). The last line is
`serial_fps=… parallel_fps=… ratio=… cores=…`.

Run: python benchmarks/corpus.py [--copies N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import av

from annotator.corpus import CorpusOptions, available_cores, label_corpus

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


def frames_per_second(corpus: Path, scratch: Path, workers: int) -> float:
    """Frames/s of processing the whole corpus from an empty cache into an empty database."""
    os.environ["AU_ANNOTATOR_CACHE"] = str(scratch / "cache")  # worker processes inherit it
    url = f"sqlite:///{scratch / 'annotations.sqlite3'}"
    summary = label_corpus([corpus], url, CorpusOptions(workers=workers))
    if summary.failed() or summary.skipped():
        raise SystemExit(f"{len(summary.failed())} failed, {len(summary.skipped())} skipped: "
                         "every copy should be processed")
    rate = summary.frames / summary.seconds
    print(f"workers={workers} videos={len(summary.stored())} frames={summary.frames} "
          f"seconds={summary.seconds:.1f} fps={rate:.1f}", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8,
                        help="copies of the three clips (639 frames each set)")
    parser.add_argument("--workers", type=int, default=available_cores(),
                        help="worker processes of the parallel run (default: every core)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="au-annotator-corpus-bench-") as scratch:
        root = Path(scratch)
        (root / "corpus").mkdir()
        corpus = make_corpus(root / "corpus", args.copies)
        serial = frames_per_second(corpus, root / "serial", 1)
        parallel = frames_per_second(corpus, root / "parallel", args.workers)
    print(f"serial_fps={serial:.1f} parallel_fps={parallel:.1f} ratio={parallel / serial:.2f} "
          f"cores={available_cores()}")


if __name__ == "__main__":
    main()
