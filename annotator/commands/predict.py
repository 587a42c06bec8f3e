"""`au-annotator predict VIDEO --out FILE.txt`: AU labels for every decoded frame of a video.

The output is an Aff-Wild2 prediction file: the AU set's header, then one line of 0/1 per
decoded frame; frames without a face are -1. Without --model the landmark-geometry baseline
predicts; with it, the trained network in the checkpoint.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from annotator.errors import InputError
from annotator.labels import write_label_file
from annotator.landmarks import BACKENDS
from annotator.pipeline import features_for_video
from annotator.smoothing import prefill_labels
from annotator.video import open_video
from model.constants import AU_SETS, au_names
from model.predictor import load_predictor

NAME = "predict"
HELP = "write per-frame AU labels for a video as an Aff-Wild2 prediction file"

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="the video to label")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.txt",
                        help="prediction file to write (replaced if it exists)")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="trained checkpoint (default: the landmark-geometry baseline)")
    parser.add_argument("--au-set", choices=sorted(AU_SETS), default=None,
                        help="AU set to predict (default: the model's; abaw2020 for the baseline)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="landmark backend (default: the one the model was trained with)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="device for the fan landmark backend")


def run(args: argparse.Namespace) -> int:
    open_video(args.video)  # a bad video fails here, before any model is loaded
    if args.out.is_dir():
        raise InputError(args.out, "is a folder; --out needs a file name such as labels.txt")
    predictor = load_predictor(args.model, args.au_set)
    backend = args.backend or predictor.landmark_backend
    if backend != predictor.landmark_backend:
        logger.warning("model %s expects %s landmarks; using %s as asked",
                       predictor.version, predictor.landmark_backend, backend)
    features = features_for_video(args.video, backend=backend, device=args.device)
    probabilities = predictor.predict(features)  # (T, K), NaN rows without a face
    labels = prefill_labels(probabilities, predictor.thresholds, predictor.smoothing_window)
    write_label_file(args.out, au_names(predictor.au_set), labels)
    faces = int(features.face.sum())
    print(f"{args.out}: {len(labels)} frames ({faces} with a face), "
          f"AU set {predictor.au_set}, model {predictor.version}")
    return 0
