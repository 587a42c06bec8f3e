"""`au-annotator train`, `evaluate`, `finetune` and `adapt`: making and measuring AU models.

train: the seed network on an Aff-Wild2 folder (see model/affwild2.py), keeping the best
checkpoint on validation. evaluate: a checkpoint's ABAW score and per-AU F1 on a split.
finetune: the active model on coders' corrections, in the foreground (the app starts the same
job in the background with `--job ID`). adapt: one video's pre-fill learns from the frames
coders reviewed in it (annotator.adaptation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from db import DATABASE_OPTION_HELP
from model.formats import AU_SETS, LAYOUTS, SPLITS

_LAYOUT_HELP = (
    "folder with videos/ and " + " or ".join(f"{folder}/" for folder, _ in LAYOUTS.values())
)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from model.training import TrainingConfig

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


def run_train(args: argparse.Namespace) -> int:
    from annotator.pipeline import feature_loader
    from model.training import TRAINING_LOG_NAME, TrainingConfig, train

    config = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, landmark_backend=args.backend, device=args.device,
    )
    load = feature_loader(config.landmark_backend, config.device)
    result = train(args.data, args.out, load, args.au_set, config, progress=True)
    print(f"checkpoint: {result.checkpoint} (epoch {result.best_epoch} of {config.epochs})")
    print(f"validation {result.metric}: {result.best_score:.4f} "
          f"(label-prior baseline {result.baseline_score:.4f})")
    print(f"log: {result.checkpoint.parent / TRAINING_LOG_NAME}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, metavar="AFFWILD2_DIR")
    parser.add_argument("--model", type=Path, required=True, metavar="PATH",
                        help="model.safetensors, or the folder `train --out` wrote")
    parser.add_argument("--split", choices=SPLITS, default="validation")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")


def run_evaluate(args: argparse.Namespace) -> int:
    from annotator.pipeline import feature_loader
    from model.affwild2 import evaluate, format_evaluation

    evaluation = evaluate(args.data, args.model, feature_loader, args.split, device=args.device,
                          progress=True)
    print(format_evaluation(evaluation))
    return 0


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)
    parser.add_argument("--videos", nargs="+", metavar="VIDEO",
                        help="video ids or names to use (default: every reviewed video)")
    parser.add_argument("--held-out", nargs="+", metavar="VIDEO",
                        help="video ids or names to hold out (default: chosen automatically)")
    parser.add_argument("--coder", metavar="NAME", help="only this coder's corrections")
    parser.add_argument("--epochs", type=int, default=5, metavar="N")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--activate", action="store_true",
                        help="make the new version active and re-run the pre-fill")
    parser.add_argument("--job", type=int, metavar="ID", help=argparse.SUPPRESS)


def run_finetune(args: argparse.Namespace) -> int:
    from annotator.finetune import FinetuneError, FinetuneOptions, activate_version
    from annotator.finetune.job import run_job
    from annotator.finetune.launching import create_finetune_job
    from db import database_url, open_database

    url = database_url(args.db)
    try:
        if args.job is not None:  # the app's background process
            return 0 if run_job(url, args.job, echo=print).state == "done" else 1
        with open_database(url).begin() as session:
            options = FinetuneOptions(
                coder=args.coder, videos=_video_ids(session, args.videos),
                held_out=_video_ids(session, args.held_out), epochs=args.epochs,
                learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed,
                device=args.device,
            )
        job_id = create_finetune_job(url, options)
        status = run_job(url, job_id, echo=lambda line: print(line, flush=True))
    except FinetuneError as error:
        print(f"au-annotator finetune: error: {error}", file=sys.stderr)
        return 2
    if status.state == "cancelled":
        print("au-annotator finetune: cancelled; nothing was changed", file=sys.stderr)
        return 130
    if status.state != "done":
        print(f"au-annotator finetune: error: {status.message}", file=sys.stderr)
        return 2
    if not _print_comparison(url, status.version_id):
        print("note: the new version scores lower than its parent on the held-out frames",
              file=sys.stderr)
    if args.activate:
        result = activate_version(url, status.version_id)
        print(f"active: version {status.version_id}; pre-fill re-run on "
              f"{len(result.refreshed_videos)} videos ({len(result.kept_videos)} fully reviewed "
              f"kept, {len(result.missing_videos)} not found)")
    return 0


def add_adapt_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, metavar="ID|NAME",
                        help="the video whose pre-fill learns (id or file name)")
    parser.add_argument("--coder", metavar="NAME",
                        help="only this coder's reviewed frames (default: every coder's)")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_adapt(args: argparse.Namespace) -> int:
    from annotator.adaptation import AdaptationError, adapt_video, format_reports
    from db import database_url, open_database, videos_matching

    url = database_url(args.db)
    with open_database(url).begin() as session:
        found = [video.id for video in videos_matching(session, args.video)]
    if len(found) != 1:
        problem = "no" if not found else "several"
        print(f"au-annotator adapt: error: {problem} registered videos match {args.video!r}",
              file=sys.stderr)
        return 2
    try:
        result = adapt_video(url, found[0], args.coder)
    except AdaptationError as error:
        print(f"au-annotator adapt: error: {error}", file=sys.stderr)
        return 2
    for line in format_reports(result):
        print(line)
    if result.adapted_aus:
        print(f"stored run {result.run_id}: {', '.join(result.adapted_aus)} learnt from the "
              f"reviewed frames ({result.seconds:.2f} s); reviewed frames keep their labels")
    else:
        run = result.run_id or result.prior_run_id
        print(f"nothing learnt: the pre-fill stays the prior's (run {run}); review frames of "
              "an AU, present and absent, to teach it")
    return 0


def _video_ids(session, values: list[str] | None) -> tuple[int, ...]:
    from annotator.finetune import FinetuneError
    from db import videos_matching

    ids = []
    for value in values or ():
        found = videos_matching(session, value)
        if len(found) != 1:
            problem = "no" if not found else "several"
            raise FinetuneError(f"{problem} registered videos match {value!r}")
        ids.append(found[0].id)
    return tuple(ids)


def _print_comparison(url: str, version_id: int) -> bool:
    """Print new against parent on the held-out frames; True when the new version scores higher."""
    from annotator.finetune import compare_versions

    comparison = compare_versions(url, version_id)
    new, parent = comparison.new, comparison.parent
    metric = "ABAW 2020 score" if comparison.metric == "abaw2020" else "mean F1"
    print(f"model version {version_id} (fine-tuned from the {comparison.parent_label}); "
          f"trained on: {', '.join(comparison.training_videos)}")
    print(f"held out: {', '.join(comparison.held_out_videos)} "
          f"({comparison.held_out_frames} labelled frames)")
    print(f"held-out {metric}: new {new['score']:.4f}, {comparison.parent_label} "
          f"{parent['score']:.4f}")
    for label, scores in (("new", new), (comparison.parent_label, parent)):
        per_au = "  ".join(f"{au} {f1:.3f}" for au, f1 in scores["per_au_f1"].items()
                           if f1 is not None)
        print(f"per-AU F1 ({label}): {per_au}")
    return comparison.improved
