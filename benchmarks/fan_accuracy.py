"""Batched FAN landmarks (our path) against face-alignment's unbatched path, same frames,
boxes and weights; prints the mean and median point distance in pixels.

    python benchmarks/fan_accuracy.py [--device cuda] [--frames 64]

Weights are random-init unless real ones sit in torch's hub folder (`--real-weights`); boxes
come from the dlib backend's cached landmarks of the demo clip.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from annotator.devtools.bench import use_random_fan_weights
from annotator.processing.extraction import landmarks_for_video
from annotator.processing.landmarks.fan_backend import FanBackend
from annotator.processing.video import iter_frames

DEMO = Path(__file__).resolve().parents[1] / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--real-weights", action="store_true")
    args = parser.parse_args()
    if not args.real_weights:
        use_random_fan_weights()
    boxes = landmarks_for_video(DEMO, "dlib")
    chosen = np.flatnonzero(boxes.face)[: args.frames]
    wanted = set(chosen.tolist())
    frames = [f.rgb for f in iter_frames(DEMO) if f.index in wanted]
    fan = FanBackend(device=args.device, allow_download=args.real_weights)
    ours = fan.landmarks_for_boxes(frames, [boxes.box[i] for i in chosen])
    stock = np.stack([
        fan.library.get_landmarks_from_image(
            rgb, detected_faces=[np.append(boxes.box[i], 1.0).astype(np.float64)]
        )[0]
        for rgb, i in zip(frames, chosen, strict=True)
    ])
    distance = np.linalg.norm(ours - stock, axis=-1)  # (N, 68) pixels
    print(f"frames={len(chosen)} device={args.device} dtype={fan.dtype} "
          f"weights={'real' if args.real_weights else 'random'}")
    print(f"batched_vs_unbatched_px mean={distance.mean():.3f} median={np.median(distance):.3f} "
          f"p90={np.percentile(distance, 90):.3f}")


if __name__ == "__main__":
    main()
