"""Server time of one correction in the app on a 30-minute video: store + labels + timelines.

Builds a throwaway SQLite database holding one 30-minute 30 fps video (54,000 frames × 8 AUs of
random probabilities, as one stored prediction run) and 1,000 earlier corrections, then times
what the app does when a coder marks a range: store the correction (its own transaction),
recompute the coder's effective labels, and build the timeline figure of all AUs (downsampled
drawing) and its JSON for the browser. The smoothed probabilities are cached per run in the app
(st.cache_data), so they are computed once outside the timed loop, as there.
Goal: median under 300 ms. Run: python benchmarks/ui_correction.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import db
from annotator.services import Services, actions
from annotator.ui import timeline
from model.au_sets import au_names

CODER = "bench-coder"


def build(url: str, frames: int, corrections: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    aus = au_names("abaw2020")
    with db.open_database(url).begin() as session:
        video = db.register_video(session, content_hash="c" * 64, path="/bench/30min.mp4",
                                  fps=30.0, frame_count=frames, width=1280, height=720)
        probabilities = rng.random((frames, len(aus)), dtype=np.float32)
        probabilities[rng.random(frames) < 0.05] = np.nan  # some no-face frames
        parameters = db.PredictionParameters("abaw2020", dict.fromkeys(aus, 0.5), 15)
        db.store_prediction_run(session, video, probabilities, parameters)
        for _ in range(corrections):
            first = int(rng.integers(0, frames - 1))
            last = min(frames - 1, first + int(rng.integers(0, 300)))
            db.correct(session, video, CODER, str(rng.choice(aus)), first, last,
                       int(rng.integers(-1, 2)))
        return video.id


def one_correction(url: str, video_id: int, smoothed: np.ndarray, rng) -> float:
    """Milliseconds for store → effective labels → timeline figure (as JSON)."""
    frames = len(smoothed)
    first = int(rng.integers(0, frames - 500))
    au = str(rng.choice(au_names("abaw2020")))
    start = time.perf_counter()
    actions.set_label(Services.open(url), video_id, CODER, (au,), first, first + 400, 1)
    state = actions.review_state(Services.open(url), video_id, CODER)
    codes = timeline.band_codes(state.labels, state.reviewed, state.prefill)
    figure = timeline.timeline_figure(state.aus, smoothed, codes, state.thresholds, first, (au,),
                                      (first, first + 400))
    figure.to_json()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30 * 60 * 30)
    parser.add_argument("--corrections", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        video_id = build(url, args.frames, args.corrections)
        state = actions.review_state(Services.open(url), video_id, CODER)
        smoothed = actions.smoothed_probabilities(Services.open(url), state.run_id,
                                                  state.smoothing_window)
        timings = [one_correction(url, video_id, smoothed, rng) for _ in range(args.repeat)]
    columns = timeline.downsample(np.zeros((args.frames, 1), np.uint8), smoothed[:, :1])[1]
    print(f"frames={args.frames} aus={smoothed.shape[1]} corrections={args.corrections} "
          f"drawn_columns={len(columns)}")
    print(f"correction_redraw_ms median={statistics.median(timings):.1f} "
          f"min={min(timings):.1f} max={max(timings):.1f} goal=300")


if __name__ == "__main__":
    main()
