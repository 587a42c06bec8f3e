"""How long learning from corrections takes on a 30-minute video (54,000 frames at 30 fps),
the whole `adapt` path: reading the reviewed frames and the prior run from the database,
loading the cached descriptors, fitting, cross-validating and storing the new run.

    python benchmarks/adapt_speed.py [--repeat 5] [--stretches 20]

The video is the demo clip's real descriptors and geometry-baseline probabilities repeated to
54,000 frames (the cache and database hold them under a stand-in file's content hash, so no
30-minute video has to be decoded first); the coder's corrections are the eye labels of
`--stretches` 2-second stretches spread over it. Goal: under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from eye_labels import AUS, DEMO, eye_labels

FRAMES = 54_000


def build(folder: Path, stretches: int) -> tuple[str, int]:
    import db
    from annotator.processing.extraction import descriptors_path, features_for_video
    from annotator.processing.prediction import prediction_parameters
    from model.baseline import load_baseline
    from model.descriptors import VideoDescriptors, descriptors_from_features
    from model.features import FeatureConfig
    from model.files import content_hash

    features = features_for_video(DEMO)
    one = descriptors_from_features(features)
    repeats = -(-FRAMES // len(one))
    descriptors = VideoDescriptors(np.tile(one.appearance, (repeats, 1))[:FRAMES],
                                   np.tile(one.geometry, (repeats, 1))[:FRAMES],
                                   np.tile(one.face, repeats)[:FRAMES],
                                   np.tile(one.expression, (repeats, 1))[:FRAMES])
    baseline = load_baseline()
    prior = np.tile(baseline.predict(features), (repeats, 1))[:FRAMES]
    truth = np.tile(eye_labels(DEMO), (repeats, 1))[:FRAMES]
    stand_in = folder / "thirty_minutes.mp4"
    stand_in.write_bytes(os.urandom(4096))  # only its content hash names the cache entry
    descriptors.save(descriptors_path(stand_in, "dlib", FeatureConfig()))
    url = f"sqlite:///{folder / 'annotations.sqlite3'}"
    with db.open_database(url).begin() as session:
        video = db.register_video(session, content_hash=content_hash(stand_in), path=stand_in,
                                  fps=30.0, frame_count=FRAMES, width=640, height=360)
        db.store_prediction_run(session, video, prior, prediction_parameters(baseline, "dlib"))
        for start in np.linspace(0, FRAMES - 60, stretches).astype(int):
            intervals = db.intervals_from_labels(truth[start : start + 60], AUS,
                                                 truth[start : start + 60] != -1, int(start))
            db.record_edit(session, video, "coder", intervals, kind="import")
        return url, video.id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stretches", type=int, default=20)
    args = parser.parse_args()
    from annotator.learning.adaptation import adapt_video
    from annotator.services import Services

    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("AU_ANNOTATOR_CACHE", str(Path(folder) / "cache"))
        url, video_id = build(Path(folder), args.stretches)
        timings, result = [], None
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = adapt_video(Services.open(url), video_id)
            timings.append(time.perf_counter() - started)
    reviewed = max(r.reviewed_frames for r in result.reports)
    print(f"frames={FRAMES} reviewed_frames={reviewed} adapted={','.join(result.adapted_aus)}")
    print(f"adapt_seconds median={statistics.median(timings):.2f} min={min(timings):.2f} "
          f"max={max(timings):.2f} goal=2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
