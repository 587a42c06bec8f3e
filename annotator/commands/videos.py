"""`au-annotator process`, `predict` and `bench`: the pipeline run on videos.

process PATH...: landmarks, features and AU probabilities, stored as each video's pre-fill;
files and folders, on every core or a Ray cluster (annotator.processing.corpus).
predict VIDEO --out FILE.txt: an Aff-Wild2 prediction file (the AU set's header, then one line
of 0/1 per decoded frame; frames without a face are -1), one per subject worth a pre-fill,
named as exports name them (FILE_left.txt and FILE_right.txt for two people). Without --model
the landmark-geometry baseline predicts; with it, the trained network in the checkpoint.
bench VIDEO: frames/s of the whole pipeline against a reference path (annotator.devtools.bench).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from annotator.commands.terminal import show_bars
from annotator.processing.landmarks.registry import BACKENDS, DEFAULT_BACKEND, backends_help
from db import DATABASE_OPTION_HELP
from model.au_sets import AU_SETS
from model.errors import InputError

if TYPE_CHECKING:
    from annotator.processing.corpus import CorpusProgress, VideoOutcome

logger = logging.getLogger(__name__)


def add_process_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="video files, and folders searched recursively for video files")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help=f"landmark backend (default: {DEFAULT_BACKEND}). {backends_help()}")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--model", type=Path,
                        help="checkpoint to predict with (default: the active model version, "
                             "else the geometry + expression baseline)")
    parser.add_argument("--workers", type=_at_least_one, metavar="N",
                        help="videos processed at once on this machine (default: one per core); "
                             "with --ray local, the CPUs of the local Ray instance")
    parser.add_argument("--ray", metavar="ADDRESS|local",
                        help="process on the Ray cluster at ADDRESS (host:port of its head), or "
                             "'local' for a Ray instance started here; needs the cluster extra "
                             "(pip install -e '.[cluster]')")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_process(args: argparse.Namespace) -> int:
    from annotator.processing.corpus import CorpusOptions, available_cores, label_corpus
    if args.ray is not None and importlib.util.find_spec("ray") is None:
        print("au-annotator process: error: --ray needs Ray, the cluster extra: "
              "pip install -e '.[cluster]'", file=sys.stderr)
        return 2
    one_video = len(args.paths) == 1 and not args.paths[0].is_dir() and args.ray is None
    bars = show_bars()  # elsewhere (a log, a pipe) each video's lines alone
    options = CorpusOptions(args.backend, args.device, args.workers or available_cores(),
                            args.ray, args.model, frame_progress=one_video and bars)
    if one_video:
        summary = label_corpus(args.paths, args.services, options,
                               lambda outcome, _progress: _print_outcome(outcome))
        failed = summary.failed()
        if failed:
            raise InputError(failed[0].path, failed[0].problem)
        return 0
    with tqdm(unit="frame", disable=not bars, bar_format=_BAR) as bar:
        summary = label_corpus(args.paths, args.services, options,
                               functools.partial(_show_progress, bar))
    print(f"{len(summary.stored())} stored, {len(summary.skipped())} skipped (processed "
          f"before with {args.backend}), {len(summary.failed())} failed; {summary.frames:,} "
          f"frames processed in {summary.seconds:.1f} s "
          f"({summary.frames / max(summary.seconds, 1e-9):.0f} frames/s)")
    failed = summary.failed()
    if not failed:
        return 0
    listed = "; ".join(f"{outcome.path} ({outcome.problem})" for outcome in failed)
    print(f"au-annotator process: error: {len(failed)} of {len(summary.outcomes)} videos "
          f"failed: {listed}", file=sys.stderr)
    return 2


_BAR = "{n_fmt}/{total_fmt} frames |{bar}| {desc}"  # desc: tqdm puts ", " before a postfix


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _show_progress(bar: tqdm, outcome: VideoOutcome, progress: CorpusProgress) -> None:
    """The overall bar (on a terminal) and a line per video. The bar runs in frames, not
    videos, since one long video is most of the work: done of all (claimed by the containers
    until each video is decoded), videos, frames/s, time left."""
    bar.total, bar.n = progress.frames, progress.frames_done
    left = progress.seconds_left
    bar.set_description_str(f"{progress.videos_done}/{progress.videos} videos · "
                            f"{progress.frames_per_second:.0f} frames/s"
                            + (f" · {_duration(left)} left" if left else ""))
    _print_outcome(outcome, f"[{progress.videos_done}/{progress.videos}] ")


def _print_outcome(outcome: VideoOutcome, prefix: str = "") -> None:
    path, done = outcome.path, outcome.result
    if done is None:
        if prefix:  # one video alone: its error ends the command instead
            tqdm.write(f"{prefix}{path}: failed: {outcome.problem}")
        return
    if done.frames_with_face == 0:
        tqdm.write(f"{path}: no face found in any of the {done.frames} frames; every frame "
                   "will be exported as -1 (not codable)", file=sys.stderr)
    share = 100.0 * done.frames_with_face / max(done.frames, 1)
    counts = f"{done.frames} frames, face in {done.frames_with_face} ({share:.1f} %)"
    if outcome.skipped:
        tqdm.write(f"{prefix}{path}: {counts}; processed before (video {done.video_id}, run "
                   f"{done.run_id}), skipped")
    else:
        tqdm.write(f"{prefix}{path}: {counts}; AU probabilities from {done.predictor} stored "
                   f"as video {done.video_id}, run {done.run_id}")
    for subject in done.subjects:
        state = "pre-filled" if subject.prefilled else "listed (pre-filled when chosen)"
        tqdm.write(f"{prefix}  subject {subject.number}: {subject.frames_seen} frames "
                   f"({100 * subject.share:.1f} % of the video), {state}")


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="the video to label")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.txt",
                        help="prediction file to write (replaced if it exists); a video with "
                             "two people gets FILE_left.txt and FILE_right.txt instead")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="trained checkpoint (default: the geometry + expression baseline)")
    parser.add_argument("--au-set", choices=sorted(AU_SETS), default=None,
                        help="AU set to predict (default: the model's; abaw2020 for the baseline)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="landmark backend (default: the one the model was trained with). "
                             f"{backends_help()}")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="device for the fan landmark backend")


def run_predict(args: argparse.Namespace) -> int:
    from annotator.processing.extraction import analyse_and_cache
    from annotator.processing.prediction import subjects_to_prefill
    from annotator.processing.video import open_video
    from model.affwild2_files import left_and_right, person_suffixes, write_label_file
    from model.au_sets import au_names
    from model.predictors import load_predictor
    from model.smoothing import prefill_labels

    open_video(args.video)  # a bad video fails here, before any model is loaded
    if args.out.is_dir():
        raise InputError(args.out, "is a folder; --out needs a file name such as labels.txt")
    predictor = load_predictor(args.model, args.au_set)
    backend = args.backend or predictor.landmark_backend
    if backend != predictor.landmark_backend:
        logger.warning("model %s expects %s landmarks; using %s as asked",
                       predictor.version, predictor.landmark_backend, backend)
    analysis = analyse_and_cache(args.video, backend, args.device)
    subjects = analysis.subjects
    chosen = subjects_to_prefill(subjects)
    people = [(n, subjects.frames_seen(n), subjects.centre_x(n))
              for n in range(1, subjects.count + 1)]
    suffixes = person_suffixes(chosen, left_and_right(people))
    for number in chosen:
        features = analysis.features(number)
        probabilities = predictor.predict(features)  # (T, K), NaN rows without the face
        labels = prefill_labels(probabilities, predictor.thresholds, predictor.smoothing_window,
                                predictor.hold_frames)
        out = args.out.with_name(f"{args.out.stem}{suffixes[number]}{args.out.suffix}")
        write_label_file(out, au_names(predictor.au_set), labels)
        print(f"{out}: subject {number}, {len(labels)} frames ({int(features.face.sum())} with "
              f"its face), AU set {predictor.au_set}, model {predictor.version}")
    return 0


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path)
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help=backends_help())
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run over the video N times (longer input, steadier figures)")
    parser.add_argument("--random-weights", action="store_true",
                        help="fan: random-init weights in a temporary folder (no download; "
                             "speed does not depend on weights)")
    parser.add_argument("--stages", action="store_true",
                        help="also time each stage alone (milliseconds a frame)")
    parser.add_argument("--boxes", choices=("detector", "dlib"), default="detector",
                        help="fan: face boxes from its detector, or from the dlib backend for "
                             "both paths (so random weights still see one face per frame)")


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from annotator.devtools import bench
    from annotator.processing.extraction import make_backend, subjects_for_video
    from annotator.processing.video import open_video

    info = open_video(args.video)
    if args.random_weights:
        bench.use_random_fan_weights()
    backend = make_backend(args.backend, args.device)
    boxes = None
    if args.boxes == "dlib":
        boxes = subjects_for_video(args.video, "dlib")
        backend.use_known_boxes(boxes)
        print(f"boxes=dlib subjects={boxes.count} "
              f"frames_with_face={int(boxes.face.any(axis=0).sum())}/{len(boxes)}")
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
    if args.stages:
        for name, milliseconds in bench.stage_profile(args.video, info, backend,
                                                      args.device).items():
            print(f"stage {name}: {milliseconds:.2f} ms/frame")
    print(f"frames={ours.frames} subjects={ours.subjects} "
          f"torch_threads={torch.get_num_threads()}")
    print(bench.summary_line(ours, reference))
    return 0
