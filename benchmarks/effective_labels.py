"""How long effective labels take for a 30-minute 30 fps video with 2,000 correction events.

Builds a throwaway SQLite database (54,000 frames, 8 AUs, one prediction run, 2,000 interval
corrections in 1,000 edits with some undone), then times `db.effective_labels`, everything
included: reading the run and the events, smoothing, thresholding and painting.
Goal: under 50 ms. Run: python benchmarks/effective_labels.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import db
from model.au_sets import au_names


def build(url: str, frames: int, events: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    aus = au_names("abaw2020")
    with db.open_database(url).begin() as session:
        video = db.register_video(
            session,
            content_hash="b" * 64,
            path="/bench/long.mp4",
            fps=30.0,
            frame_count=frames,
            width=1280,
            height=720,
        )
        probabilities = rng.random((frames, len(aus)), dtype=np.float32)
        probabilities[rng.random(frames) < 0.05] = np.nan  # some no-face frames
        parameters = db.PredictionParameters("abaw2020", dict.fromkeys(aus, 0.5), 15)
        db.store_prediction_run(session, video, probabilities, parameters)
        for _ in range(events // 2):
            intervals = []
            for _ in range(2):
                first = int(rng.integers(0, frames - 1))
                last = min(frames - 1, first + int(rng.integers(0, 300)))
                intervals.append(
                    db.Interval(str(rng.choice(aus)), first, last, int(rng.integers(-1, 2)))
                )
            db.record_edit(session, video, "coder", intervals)
            if rng.random() < 0.05:
                db.undo(session, video, "coder")
        return video.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30 * 60 * 30)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        video_id = build(url, args.frames, args.events)
        sessions = db.open_database(url)
        timings = []
        for _ in range(args.repeat):
            with sessions.begin() as session:
                video = db.get_video(session, video_id)
                start = time.perf_counter()
                labels = db.effective_labels(session, video, "coder")
                timings.append((time.perf_counter() - start) * 1000)
        reviewed = labels.reviewed.mean()
    print(
        f"frames={args.frames} aus={labels.labels.shape[1]} events={args.events} "
        f"reviewed={reviewed:.1%}"
    )
    print(
        f"effective_labels_ms median={statistics.median(timings):.1f} "
        f"min={min(timings):.1f} max={max(timings):.1f} goal=50"
    )


if __name__ == "__main__":
    main()
