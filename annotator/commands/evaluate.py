"""`au-annotator evaluate`: score a checkpoint on an Aff-Wild2 split (ABAW score, per-AU F1)."""

from __future__ import annotations

import argparse
from pathlib import Path

from model.affwild2 import SPLITS
from model.evaluation import evaluate, format_evaluation

NAME = "evaluate"
HELP = "score a trained checkpoint on an Aff-Wild2 folder; prints the ABAW score and per-AU F1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, metavar="AFFWILD2_DIR")
    parser.add_argument("--model", type=Path, required=True, metavar="PATH",
                        help="model.safetensors, or the folder `train --out` wrote")
    parser.add_argument("--split", choices=SPLITS, default="validation")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")


def run(args: argparse.Namespace) -> int:
    evaluation = evaluate(args.data, args.model, args.split, device=args.device, progress=True)
    print(format_evaluation(evaluation))
    return 0
