"""Fine-tuning on a real clip: how the fine-tuned pre-fill compares with the geometry baseline
on held-out frames of annotator/demo/WolfgangLanger_Pexels.mp4 (472 frames, one woman: crying
with a hand over her mouth, then laughing).

    python benchmarks/finetune_real_clip.py [--epochs 10] [--seed 0] [--workdir DIR]

Labels: LABELS below were written by a person looking at the frames (PNG contact sheets, every
4th–12th frame): only AUs and stretches they were confident about; every other (frame, AU) is
-1 (not coded, neither trained on nor scored). AU1, AU2 and AU20 are not labelled at all.

Split: fine-tuning holds out whole videos, and there is one clip, so it is cut into four
segment videos with 10-frame gaps between them (re-encoded, H.264 CRF 16). Two segments train
(crying 0–99, laughing 250–359), two are held out (hand over mouth 110–239, laughing with a
head tilt 370–471). The held-out segments are the same person seconds apart, so the
score says how well the model generalises along one clip of one person, not to new people.

Path: exactly the product's: `process` each segment (geometry-baseline pre-fill), import the
label files as coder "benchmark", run the fine-tune job (from scratch: no model version exists),
then the version's comparison: both predictors' pre-fill (their own smoothing window and
thresholds) scored against the labels on the held-out segments' labelled (frame, AU) pairs,
ABAW 2020 formula over the labelled AUs. The script recomputes both pre-fills independently and
prints the per-AU confusion counts as a cross-check.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.formats import (  # noqa: E402
    NOT_CODED,
    au_names,
    write_label_file,  # noqa: E402
)

DEMO = ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"
AUS = au_names("abaw2020")
# AU → (first, last, value) stretches of 0-based frames, inclusive.
LABELS = {
    "AU4": [(8, 135, 1), (150, 471, 0)],  # furrowed brows while crying; relaxed after
    "AU6": [(150, 246, 0), (262, 471, 1)],  # wide eyes looking up; cheeks raised when laughing
    "AU12": [(0, 56, 0), (250, 471, 1)],  # corners down while crying; smiling/laughing
    "AU15": [(16, 56, 1), (250, 471, 0)],  # corners pulled down while crying
    "AU25": [(0, 50, 0), (230, 471, 1)],  # lips pressed; parted with teeth showing
}
SEGMENTS = {  # name → (first, last frame, role)
    "crying": (0, 99, "train"),
    "hand_over_mouth": (110, 239, "held out"),
    "laughing": (250, 359, "train"),
    "laughing_tilt": (370, 471, "held out"),
}


def clip_labels(frames: int) -> np.ndarray:
    labels = np.full((frames, len(AUS)), NOT_CODED, dtype=np.int8)
    for au, stretches in LABELS.items():
        for first, last, value in stretches:
            labels[first : last + 1, AUS.index(au)] = value
    return labels


def write_segments(workdir: Path) -> tuple[Path, Path]:
    """Segment videos in workdir/videos and their label files in workdir/labels."""
    from annotator.synthetic import write_video
    from annotator.video import iter_frames, open_video

    frames = [frame.rgb for frame in iter_frames(DEMO)]
    labels = clip_labels(len(frames))
    fps = round(open_video(DEMO).fps)
    for name, (first, last, _) in SEGMENTS.items():
        write_video(workdir / "videos" / f"{name}.mp4", frames[first : last + 1], fps)
        write_label_file(workdir / "labels" / f"{name}.txt", AUS, labels[first : last + 1])
    return workdir / "videos", workdir / "labels"


def cross_check(url: str, version_id: int, held_out: list[str]) -> None:
    """Both pre-fills recomputed from the cached features, scored per labelled AU."""
    import db
    from annotator.pipeline import features_for_video
    from model.checkpoint import load_predictor
    from model.metrics import confusion_counts
    from model.smoothing import prefill_labels

    with db.open_database(url).begin() as session:
        path = session.get(db.ModelVersion, version_id).path
        videos = {v.name: Path(v.path) for v in db.list_videos(session)}
    truth = np.concatenate([clip_labels(472)[SEGMENTS[n][0] : SEGMENTS[n][1] + 1]
                            for n in held_out])
    print(f"cross-check on {len(truth)} held-out frames ({', '.join(held_out)}):")
    for label, predictor in (("geometry baseline", load_predictor(None)),
                             (f"version {version_id}", load_predictor(path))):
        predicted = np.concatenate([
            prefill_labels(predictor.predict(features_for_video(videos[n], "dlib")),
                           predictor.thresholds, predictor.smoothing_window)
            for n in held_out
        ])
        predicted = np.where(predicted == NOT_CODED, 0, predicted)  # no face counts as absent
        counts = confusion_counts(truth, predicted)
        cells = []
        for au in LABELS:
            tp, fp, fn, tn = counts[AUS.index(au)]
            if tp + fp + fn + tn:
                f1 = 2 * tp / max(2 * tp + fp + fn, 1)
                cells.append(f"{au} F1 {f1:.3f} (tp {tp} fp {fp} fn {fn} tn {tn})")
        print(f"  {label:>18}: " + "; ".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import db
    from annotator.finetune import FinetuneOptions, compare_versions
    from annotator.finetune.job import run_job
    from annotator.finetune.launching import create_finetune_job
    from annotator.label_io import import_label_folder
    from annotator.pipeline import process_video

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="finetune-real-clip-"))
    started = time.monotonic()
    videos, labels = write_segments(workdir)
    url = f"sqlite:///{workdir / 'annotations.sqlite3'}"
    for name in SEGMENTS:
        process_video(videos / f"{name}.mp4", url)
    with db.open_database(url).begin() as session:
        import_label_folder(session, labels, "benchmark")
        ids = {v.name: v.id for v in db.list_videos(session)}
    held_out = [name for name, (_, _, role) in SEGMENTS.items() if role == "held out"]
    options = FinetuneOptions(held_out=tuple(ids[n] for n in held_out), epochs=args.epochs,
                              seed=args.seed)
    print(f"workdir {workdir}; segments processed and labels imported "
          f"({time.monotonic() - started:.0f} s)")
    status = run_job(url, create_finetune_job(url, options), echo=print)
    print(f"job {status.state}: {status.message} ({time.monotonic() - started:.0f} s)")
    if status.state != "done":
        return 1
    comparison = compare_versions(url, status.version_id)
    print(f"held out: {', '.join(comparison.held_out_videos)}; "
          f"{comparison.held_out_frames} frames with at least one labelled AU")
    for label, scores in (("geometry baseline", comparison.parent),
                          (f"version {comparison.version_id}", comparison.new)):
        per_au = "  ".join(f"{au} {f1:.3f}" for au, f1 in scores["per_au_f1"].items()
                           if f1 is not None)
        print(f"  {label:>18}: ABAW 2020 {scores['abaw2020']:.4f} (mean F1 {scores['mean_f1']:.4f}"
              f", accuracy {scores['accuracy']:.4f}); per-AU F1 {per_au}")
    cross_check(url, comparison.version_id, held_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
