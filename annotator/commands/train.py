"""`au-annotator train`: train the seed network on an Aff-Wild2 folder (see model/affwild2.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from model.affwild2 import LAYOUTS
from model.config import TrainingConfig
from model.constants import AU_SETS
from model.training import TRAINING_LOG_NAME, train

NAME = "train"
HELP = "train the AU network on an Aff-Wild2 folder; keeps the best checkpoint on validation"

_LAYOUT_HELP = (
    "folder with videos/ and " + " or ".join(f"{folder}/" for folder, _ in LAYOUTS.values())
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainingConfig()
    parser.add_argument("--data", type=Path, required=True, metavar="AFFWILD2_DIR",
                        help=_LAYOUT_HELP)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="new folder for model.safetensors and training_log.json")
    parser.add_argument("--au-set", choices=tuple(AU_SETS),
                        help="default: from the label folders present (AU_Set → abaw2020)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, metavar="N")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, metavar="N")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--backend", choices=("dlib", "fan"), default=defaults.landmark_backend,
                        help="landmark backend for the features (default: dlib)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=defaults.device)


def run(args: argparse.Namespace) -> int:
    config = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, landmark_backend=args.backend, device=args.device,
    )
    result = train(args.data, args.out, args.au_set, config, progress=True)
    print(f"checkpoint: {result.checkpoint} (epoch {result.best_epoch} of {config.epochs})")
    print(f"validation {result.metric}: {result.best_score:.4f} "
          f"(label-prior baseline {result.baseline_score:.4f})")
    print(f"log: {result.checkpoint.parent / TRAINING_LOG_NAME}")
    return 0
