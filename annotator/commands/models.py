"""`au-annotator train`, `evaluate`, `finetune` and `adapt`: making and measuring AU models.

train: the seed network on an Aff-Wild2 folder (see model/affwild2.py), with every setting
from a TOML file and the command line (model/config.py), keeping the best checkpoint on the
tuning videos (validation, or a held-out share of training). evaluate: a checkpoint's ABAW
score and per-AU F1 on a split, saying whether that score is held out.
finetune: the active model on coders' corrections, in the foreground (the app starts the same
job in the background with `--job ID`). adapt: one video's pre-fill learns from the frames
coders reviewed in it (annotator.learning.adaptation). queue: the stretches where a coder's look
would change the pre-fill most (annotator.services.actions.review_queue), one a line, for scripts.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from annotator.processing.landmarks.registry import BACKENDS, backends_help
from annotator.services.context import Services
from db import DATABASE_OPTION_HELP
from model.affwild2_files import RELEASED_LAYOUTS, SPLITS
from model.au_sets import AU_SETS
from model.features import FACE_SOURCES

_LAYOUT_HELP = "folder with videos/ (or batch1/, batch2/) and " + " or ".join(
    f"{folder}/{subs['train']}" for _, folder, subs in RELEASED_LAYOUTS
)
# Flags that set one setting of model.config's setup; they beat --config and --set.
_FLAG_SETTINGS = {
    "au_set": "au_set", "epochs": "training.epochs", "batch_size": "training.batch_size",
    "learning_rate": "training.learning_rate", "seed": "training.seed",
    "tune_split": "training.tune_split", "faces": "features.faces",
    "backend": "training.landmark_backend", "device": "training.device",
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from model.training import TrainingConfig

    defaults = TrainingConfig()
    parser.add_argument("--data", type=Path, required=True, metavar="AFFWILD2_DIR",
                        help=_LAYOUT_HELP)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="new folder for model.safetensors, config.toml, training_log.json")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="settings file (TOML: [network], [features], [training]; see "
                             "README), or a checkpoint whose run to repeat")
    parser.add_argument("--set", action="append", default=[], dest="settings",
                        metavar="SECTION.KEY=VALUE",
                        help="one setting, beating --config (repeatable), e.g. "
                             "network.fusion=aspect or training.hold_frames=3")
    parser.add_argument("--au-set", choices=tuple(AU_SETS),
                        help="default: from the label folders present (AU_Set/Training_Set → "
                             "abaw2020)")
    parser.add_argument("--epochs", type=int, metavar="N", help=f"default {defaults.epochs}")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help=f"default {defaults.batch_size}")
    parser.add_argument("--learning-rate", type=float, help=f"default {defaults.learning_rate}")
    parser.add_argument("--seed", type=int, help=f"default {defaults.seed}")
    parser.add_argument("--tune-split", type=float, metavar="F",
                        help="hold out this share of the training videos to choose the epoch, "
                             "smoothing and thresholds, so the validation score is held out "
                             "(default 0: chosen on validation, as the paper did)")
    parser.add_argument("--faces", choices=FACE_SOURCES,
                        help="detected: our landmarks on every decoded frame (default); "
                             "cropped-aligned: Aff-Wild2's own DIR/cropped_aligned crops")
    parser.add_argument("--backend", choices=BACKENDS,
                        help=f"landmark backend for the features (default "
                             f"{defaults.landmark_backend}). {backends_help()}")
    parser.add_argument("--device", choices=("cpu", "cuda"), help=f"default {defaults.device}")


def run_train(args: argparse.Namespace) -> int:
    from model.affwild2 import FeatureSource
    from model.config import (
        CONFIG_NAME,
        TrainingSetup,
        apply_settings,
        parse_assignment,
        read_setup,
        write_setup,
    )
    from model.training import TRAINING_LOG_NAME, train

    setup = read_setup(args.config) if args.config else TrainingSetup()
    setup = apply_settings(setup, dict(map(parse_assignment, args.settings)), "--set")
    flags = {key: getattr(args, name) for name, key in _FLAG_SETTINGS.items()
             if getattr(args, name) is not None}
    setup = apply_settings(setup, flags, "command line")
    config = setup.training
    load = feature_loader_for(FeatureSource(args.data, config.landmark_backend, config.device,
                                            setup.features))
    result = train(args.data, args.out, load, setup.au_set, config, setup.network,
                   progress=True, features=setup.features)
    write_setup(args.out / CONFIG_NAME, replace(setup, au_set=result.au_set))
    print(f"checkpoint: {result.checkpoint} (epoch {result.best_epoch} of {config.epochs})")
    for line in _training_report(result):
        print(line)
    print(f"settings: {args.out / CONFIG_NAME}; log: {args.out / TRAINING_LOG_NAME}")
    return 0


def _training_report(result) -> list[str]:
    """What the validation figures mean: held out or chosen on validation (as the paper)."""
    baseline = f"(label-prior baseline {result.baseline_score:.4f})"
    if result.tuned_on["split"] == "validation":
        return [f"validation {result.metric}: {result.validation_score:.4f} {baseline}",
                "  epoch, smoothing window and thresholds were chosen on validation itself, as "
                "the paper did: comparable to its 0.56, not held out (--tune-split F gives a "
                "held-out figure)", *_file_report(result.skipped, result.adjusted)]
    return [
        f"tuning ({len(result.tuned_on['videos'])} training video(s) held out by --tune-split "
        f"{result.tuned_on['tune_split']}) {result.metric}: {result.best_score:.4f}",
        f"validation {result.metric}: {result.validation_score:.4f} {baseline}",
        "  held out: epoch, smoothing window and thresholds were chosen on the tuning videos",
        f"validation {result.metric} with epoch, window and thresholds chosen on validation "
        f"(the paper's protocol, comparable to its 0.56, not held out): "
        f"{result.paper_protocol_score:.4f}",
        *_file_report(result.skipped, result.adjusted),
    ]


def _file_report(skipped: dict[str, str], adjusted: dict[str, str]) -> list[str]:
    """The end-of-run list of label files skipped, and of those used with a change."""
    lines = []
    if skipped:
        lines.append(f"skipped {len(skipped)} label files:")
        lines += [f"  {name}: {why}" for name, why in skipped.items()]
    if adjusted:
        lines.append(f"used {len(adjusted)} label files with changes:")
        lines += [f"  {name}: {what}" for name, what in adjusted.items()]
    return lines


def feature_loader_for(source):
    """Per-person features as `source` says: our landmarks on every decoded frame (the
    pipeline's cache), or Aff-Wild2's cropped_aligned crops."""
    if source.features.faces == "cropped-aligned":
        from annotator.processing.aligned_faces import aligned_face_loader

        return aligned_face_loader(source.data_dir, source.landmark_backend, source.device,
                                   source.features)
    from annotator.processing.extraction import person_features

    return lambda video_path, person: person_features(video_path, person,
                                                      source.landmark_backend, source.device,
                                                      source.features)


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, metavar="AFFWILD2_DIR")
    parser.add_argument("--model", type=Path, required=True, metavar="PATH",
                        help="model.safetensors, or the folder `train --out` wrote")
    parser.add_argument("--split", choices=SPLITS, default="validation")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")


def run_evaluate(args: argparse.Namespace) -> int:
    from model.affwild2 import evaluate

    evaluation = evaluate(args.data, args.model, feature_loader_for, args.split,
                          device=args.device, progress=True)
    print(_format_evaluation(evaluation))
    return 0


def _format_evaluation(evaluation) -> str:
    """The AU set's challenge score first, then whether it is held out, and the score with
    window and thresholds tuned on the split itself (the paper's protocol)."""
    from model.metrics import metric_value

    scores, count, split = evaluation.scores, len(evaluation.aus), evaluation.split
    if evaluation.metric == "abaw2020":
        headline = (f"ABAW 2020 score: {scores.abaw2020:.4f}  (0.5 × mean F1 {scores.mean_f1:.4f} "
                    f"+ 0.5 × accuracy {scores.accuracy:.4f})")
    else:
        headline = f"ABAW score (mean F1 over {count} AUs): {scores.mean_f1:.4f}"
    tuned_on = evaluation.tuned_on
    chosen_on = {"validation": "the validation split", None: "videos the checkpoint does not name",
                 "train": f"{len(tuned_on.get('videos', []))} training video(s) held out by "
                          f"--tune-split {tuned_on.get('tune_split')}"}[tuned_on.get("split")]
    kind = {True: "held out", False: f"not held out: chosen on {split}", None: "maybe not held out"}
    lines = [
        f"{split}: {evaluation.videos} videos, {evaluation.frames} frames, "
        f"AU set {evaluation.au_set}",
        headline,
        f"  epoch, smoothing window and thresholds were chosen on {chosen_on} "
        f"({kind[evaluation.held_out]})",
        f"{evaluation.metric} with window and thresholds tuned on {split} itself (the paper's "
        f"protocol, not held out): {metric_value(evaluation.retuned, evaluation.au_set):.4f}",
        f"mean F1 over {count} AUs: {scores.mean_f1:.4f}; accuracy: {scores.accuracy:.4f}",
        "per-AU F1: " + "  ".join(
            f"{au} {f1:.3f}" for au, f1 in zip(evaluation.aus, scores.per_au_f1, strict=True)
        ),
        f"label-prior baseline ({evaluation.metric}): "
        f"{metric_value(evaluation.baseline, evaluation.au_set):.4f}",
    ]
    return "\n".join(lines + _file_report(evaluation.skipped, evaluation.adjusted))


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
                        help="make the new version active and re-run the pre-fill, when it "
                             "scores at least its parent on the held-out frames")
    parser.add_argument("--force", action="store_true",
                        help="with --activate: activate even when it scores below its parent")
    parser.add_argument("--job", type=int, metavar="ID", help=argparse.SUPPRESS)


def run_finetune(args: argparse.Namespace) -> int:
    from annotator.jobs.finetune_launch import create_finetune_job
    from annotator.jobs.finetune_process import run_job
    from annotator.learning.finetune_options import FinetuneError, FinetuneOptions
    from annotator.learning.model_versions import activate_version
    services = args.services
    try:
        if args.job is not None:  # the app's background process
            return 0 if run_job(services, args.job, echo=print).state == "done" else 1
        with services.store.read() as session:
            options = FinetuneOptions(
                coder=args.coder, videos=_video_ids(session, args.videos),
                held_out=_video_ids(session, args.held_out), epochs=args.epochs,
                learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed,
                device=args.device,
            )
        job_id = create_finetune_job(services, options)
        status = run_job(services, job_id, echo=lambda line: print(line, flush=True))
    except FinetuneError as error:
        print(f"au-annotator finetune: error: {error}", file=sys.stderr)
        return 2
    if status.state == "cancelled":
        print("au-annotator finetune: cancelled; nothing was changed", file=sys.stderr)
        return 130
    if status.state != "done":
        print(f"au-annotator finetune: error: {status.message}", file=sys.stderr)
        return 2
    refusal = _print_comparison(services, status.details.version_id)
    if args.activate and refusal and not args.force:
        print(f"not activated: {refusal}; the parent stays active (--force activates it "
              "anyway)")
    elif args.activate:
        result = activate_version(services, status.details.version_id, force=args.force)
        forced = f" (forced: {refusal})" if refusal else ""
        print(f"active: version {status.details.version_id}{forced}; pre-fill re-run on "
              f"{len(result.refreshed_videos)} videos ({len(result.kept_videos)} fully reviewed "
              f"kept, {len(result.missing_videos)} not found)")
    elif refusal:
        print(f"note: {refusal}", file=sys.stderr)
    return 0


def add_adapt_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, metavar="ID|NAME",
                        help="the video whose pre-fill learns (id or file name)")
    parser.add_argument("--coder", metavar="NAME",
                        help="only this coder's reviewed frames (default: every coder's)")
    parser.add_argument("--subject", type=int, metavar="N",
                        help="only subject N of the video (default: every subject with reviewed "
                             "frames)")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_adapt(args: argparse.Namespace) -> int:
    from annotator.learning.adaptation import AdaptationError, adapt_video, format_reports

    video_id = _one_video(args.services, args.video, "adapt")
    if video_id is None:
        return 2
    try:
        result = adapt_video(args.services, video_id, args.coder, args.subject)
    except (AdaptationError, ValueError) as error:
        print(f"au-annotator adapt: error: {error}", file=sys.stderr)
        return 2
    for done in result.subjects:
        print(f"subject {done.subject}:")
        for line in format_reports(done):
            print(line)
        if done.adapted_aus:
            print(f"stored run {done.run_id}: {', '.join(done.adapted_aus)} learnt from the "
                  f"reviewed frames ({result.seconds:.2f} s); reviewed frames keep their labels")
        else:
            run = done.run_id or done.prior_run_id
            print(f"nothing learnt: the pre-fill stays the prior's (run {run}); review frames "
                  "of an AU, present and absent, to teach it")
    return 0


def _video_ids(session, values: list[str] | None) -> tuple[int, ...]:
    from annotator.learning.finetune_options import FinetuneError
    from db import videos_matching

    ids = []
    for value in values or ():
        found = videos_matching(session, value)
        if len(found) != 1:
            problem = "no" if not found else "several"
            raise FinetuneError(f"{problem} registered videos match {value!r}")
        ids.append(found[0].id)
    return tuple(ids)


def _print_comparison(services: Services, version_id: int) -> str:
    """Print new against parent on the held-out frames; returns why activating it would need
    forcing (empty when it scores at least its parent)."""
    from annotator.learning.model_versions import compare_versions

    comparison = compare_versions(services, version_id)
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
    return comparison.refusal()


def add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, metavar="ID|NAME",
                        help="the video (id or file name)")
    parser.add_argument("--coder", metavar="NAME",
                        help="whose review (default: the video's only coder, else nobody's: "
                             "the pre-fill alone)")
    parser.add_argument("--subject", type=int, default=1, metavar="N",
                        help="subject N of the video (default: 1, the most seen)")
    parser.add_argument("--limit", type=int, default=20, metavar="N",
                        help="at most N stretches (default: 20)")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_queue(args: argparse.Namespace) -> int:
    """Print `AU first last score reason` per stretch, best first (frames 0-based, inclusive;
    score: the stretch's expected change in seconds of frames)."""
    from annotator.services import actions

    services = args.services
    video_id = _one_video(services, args.video, "queue")
    if video_id is None:
        return 2
    if args.limit < 1:
        print("au-annotator queue: error: --limit must be at least 1", file=sys.stderr)
        return 2
    coders = actions.video_coders(services, video_id)
    coder = args.coder or (coders[0] if len(coders) == 1 else None)
    try:
        items = actions.video_queue(services, video_id, coder, args.subject, args.limit)
    except ValueError as error:  # no such subject
        print(f"au-annotator queue: error: {error}", file=sys.stderr)
        return 2
    for item in items:
        print(f"{item.au} {item.first_frame} {item.last_frame} {item.score:.2f} {item.reason}")
    if not items:
        print("nothing to review: every unreviewed stretch is confident and its sources agree",
              file=sys.stderr)
    return 0


def _one_video(services: Services, text: str, command: str) -> int | None:
    """The id of the one registered video `text` names; None (the error printed) otherwise."""
    from db import videos_matching

    with services.store.read() as session:
        found = [video.id for video in videos_matching(session, text)]
    if len(found) == 1:
        return found[0]
    problem = "no" if not found else "several"
    print(f"au-annotator {command}: error: {problem} registered videos match {text!r}",
          file=sys.stderr)
    return None
