"""`au-annotator process`, `predict` and `bench`: the pipeline run on one video.

process VIDEO: landmarks, features and AU probabilities, stored as the video's pre-fill.
predict VIDEO --out FILE.txt: an Aff-Wild2 prediction file (the AU set's header, then one line
of 0/1 per decoded frame; frames without a face are -1). Without --model the landmark-geometry
baseline predicts; with it, the trained network in the checkpoint.
bench VIDEO: frames/s of the whole pipeline against a reference path (annotator.bench).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from annotator.landmarks import BACKENDS
from db import DATABASE_OPTION_HELP
from model.formats import AU_SETS, InputError

logger = logging.getLogger(__name__)


def add_process_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file")
    parser.add_argument("--backend", choices=BACKENDS, default="dlib",
                        help="landmark backend (default: dlib, CPU)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--model", type=Path,
                        help="checkpoint to predict with (default: the active model version, "
                             "else the geometry baseline)")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_process(args: argparse.Namespace) -> int:
    from annotator.pipeline import process_video
    from db import database_url

    done = process_video(args.video, database_url(args.db), args.backend, args.device,
                         args.model, progress=True)
    if done.frames_with_face == 0:
        print(f"{args.video}: no face found in any of the {done.frames} frames; every frame "
              "will be exported as -1 (not codable)", file=sys.stderr)
    share = 100.0 * done.frames_with_face / done.frames
    print(f"{args.video}: {done.frames} frames, face in {done.frames_with_face} ({share:.1f} %); "
          f"AU probabilities from {done.predictor} stored as video {done.video_id}, "
          f"run {done.run_id}")
    return 0


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
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


def run_predict(args: argparse.Namespace) -> int:
    from annotator.pipeline import features_for_video
    from annotator.video import open_video
    from model.checkpoint import load_predictor
    from model.formats import au_names, write_label_file
    from model.smoothing import prefill_labels

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


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path)
    parser.add_argument("--backend", choices=BACKENDS, default="dlib")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run over the video N times (longer input, steadier figures)")
    parser.add_argument("--random-weights", action="store_true",
                        help="fan: random-init weights in a temporary folder (no download; "
                             "speed does not depend on weights)")
    parser.add_argument("--boxes", choices=("detector", "dlib"), default="detector",
                        help="fan: face boxes from its detector, or from the dlib backend for "
                             "both paths (so random weights still see one face per frame)")


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from annotator import bench
    from annotator.pipeline import landmarks_for_video, make_backend
    from annotator.video import open_video

    info = open_video(args.video)
    if args.random_weights:
        bench.use_random_fan_weights()
    backend = make_backend(args.backend, args.device)
    boxes = None
    if args.boxes == "dlib":
        boxes = landmarks_for_video(args.video, "dlib")
        backend.use_known_boxes(boxes)
        print(f"boxes=dlib frames_with_face={int(boxes.face.sum())}/{len(boxes)}")
    ours = bench.end_to_end(args.video, info, backend, args.device, args.repeat)
    if args.backend == "fan":
        reference = bench.stock_fan_reference(args.video, args.repeat, backend.library, boxes)
    else:
        reference = bench.dlib_reference(args.video, args.repeat)
    if args.device == "cuda":
        print(f"card={torch.cuda.get_device_name()} "
              f"peak_gpu_memory_mib={torch.cuda.max_memory_allocated() / 2**20:.0f}")
    for name, seconds in {**ours.stage_seconds, **reference.stage_seconds}.items():
        print(f"{name}: {seconds:.2f} s")
    print(f"frames={ours.frames} torch_threads={torch.get_num_threads()}")
    print(bench.summary_line(ours, reference))
    return 0
