"""`au-annotator process VIDEO`: landmarks, features and AU probabilities, stored."""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "process"
HELP = "run the AU pipeline on a video and store its pre-fill in the database"


def add_arguments(parser) -> None:
    parser.add_argument("video", type=Path, help="video file")
    parser.add_argument("--backend", choices=("dlib", "fan"), default="dlib",
                        help="landmark backend (default: dlib, CPU)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--model", type=Path,
                        help="checkpoint to predict with (default: the active model version, "
                             "else the geometry baseline)")
    parser.add_argument("--db", help="database URL or SQLite file (default: per-user file)")


def run(args) -> int:
    from annotator.processing import process_video
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
