"""Feature extraction speed on CPU: alignment, mask, gray + edge channels, motion.

Landmarks come from the pipeline's cache (found once, not timed). Two figures are printed:
features alone (frames already decoded, held in memory) and decode + features (what a first
`predict` pays after landmarks). Run: python benchmarks/features_fps.py [VIDEO] [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from annotator.processing.extraction import landmarks_for_video
from annotator.processing.video import iter_frames
from model.features import FeatureConfig, features_from_frames

DEMO = Path(__file__).resolve().parents[1] / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"


def best_seconds(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEMO)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = parser.parse_args()
    table = landmarks_for_video(args.video)
    frames = [frame.rgb for frame in iter_frames(args.video)]
    config = FeatureConfig()
    count, faces = len(frames), int(table.face.sum())

    def features_only():
        features_from_frames(frames, table.landmarks, table.face, config)

    def decode_and_features():
        decoded = (frame.rgb for frame in iter_frames(args.video))
        features_from_frames(decoded, table.landmarks, table.face, config)

    height, width = frames[0].shape[:2]
    print(f"video={args.video.name} frames={count} faces={faces} size={width}x{height} "
          f"crop={config.crop_size}")
    print(f"features_fps={count / best_seconds(features_only, args.repeat):.0f}")
    print(f"decode_and_features_fps={count / best_seconds(decode_and_features, args.repeat):.0f}")


if __name__ == "__main__":
    main()
