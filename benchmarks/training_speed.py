"""Training and inference speed of the seed network on one video's cached features.

    python benchmarks/training_speed.py [--video PATH] [--backend dlib] [--device cpu]

Features come from the per-video cache (computed once on first use), as in `au-annotator
train`; the figures exclude feature computation. Weights are random: speed does not depend on them.
Prints `training_frames_per_s=… inference_frames_per_s=…` on the last line.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from annotator.processing.extraction import features_for_video
from model.network import AUNetwork, NetworkConfig, au_loss, batch_tensors, predict_probabilities

DEMO = Path(__file__).resolve().parent.parent / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"


def training_speed(network: AUNetwork, images, motion, batch_size: int, seconds: float,
                   device: str) -> float:
    """Frames per second of forward + backward + AdamW step, random labels, shuffled batches."""
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (len(images), network.config.num_aus)).astype(np.int8)
    weights = torch.ones(network.config.num_aus, device=device)
    network.train()
    frames, start, warm = 0, 0.0, True
    while True:
        chosen = np.sort(rng.choice(len(images), size=batch_size, replace=len(images) < batch_size))
        inputs = [t.to(device) for t in batch_tensors(images[chosen], motion[chosen])]
        loss = au_loss(network(*inputs), torch.from_numpy(labels[chosen]).to(device), weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if warm:  # the first step allocates and picks kernels; do not time it
            start, warm = time.perf_counter(), False
            continue
        frames += batch_size
        if time.perf_counter() - start >= seconds:
            return frames / (time.perf_counter() - start)


def inference_speed(network: AUNetwork, images, motion, face, batch_size: int,
                    seconds: float) -> float:
    predict_probabilities(network, images[:batch_size], motion[:batch_size], face[:batch_size])
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict_probabilities(network, images, motion, face, batch_size=batch_size)
        frames += int(face.sum())
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEMO)
    parser.add_argument("--backend", default="dlib")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch")
    parser.add_argument("--inference-batch-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    args = parser.parse_args()

    features = features_for_video(args.video, args.backend)
    face = features.face
    images, motion = features.images[face], features.motion[face]
    print(f"video {args.video.name}: {len(features)} frames, {int(face.sum())} with a face; "
          f"device {args.device}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f} (other processes slow CPU figures down)")
    torch.manual_seed(0)
    network = AUNetwork(NetworkConfig()).to(args.device)
    weights = sum(p.numel() for p in network.parameters())
    print(f"network: default NetworkConfig, {weights} weights")
    training = training_speed(network, images, motion, args.batch_size, args.seconds, args.device)
    inference = inference_speed(network, images, motion, np.ones(len(images), bool),
                                args.inference_batch_size, args.seconds)
    print(f"training_frames_per_s={training:.1f} inference_frames_per_s={inference:.1f}")


if __name__ == "__main__":
    main()
