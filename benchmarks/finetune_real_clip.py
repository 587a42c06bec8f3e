"""Fine-tuning on a real clip, as a new user would try it, and what it does to another video.

    python benchmarks/finetune_real_clip.py [--epochs 10] [--workdir DIR]

The demo clip (472 frames, one woman crying, then laughing) is cut into two videos, frames
0–235 and 236–471 (re-encoded, H.264 CRF 16), both labelled by eye for AU4, AU6, AU12 and
AU25 (tests/data/eye_labels; frames nobody was sure of stay unreviewed). single_face.mp4 (a
man going from neutral to a broad smile) is processed too. Then, through the command line:
`au-annotator finetune --epochs N --activate`: fine-tuning needs a held-out video, so one half
trains and the other measures the new version beside its parent (the geometry baseline).

Printed: the held-out comparison (per-AU F1 and ABAW 2020), whether `--activate` activated the
new version (only when it scores at least its parent there), and single_face.mp4's exported
pre-fill against its eye labels before and after. The halves are one person seconds apart
(crying against laughing), so the held-out figure says how a version generalises along one
clip, not to new people; single_face.mp4 is another person entirely.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from eye_labels import AUS, DEMO, JUDGED, SINGLE_FACE, agreement, eye_labels, format_agreement

from annotator.cli import main as cli
from model.affwild2_files import read_label_file, write_label_file
from model.au_sets import NOT_CODED

HALVES = {"demo_first_half": (0, 235), "demo_second_half": (236, 471)}


def write_halves(workdir: Path) -> None:
    """The two halves as videos, and their eye labels (the judged AUs only) as label files."""
    from annotator.devtools.synthetic import write_video
    from annotator.processing.video import iter_frames, open_video

    frames = [frame.rgb for frame in iter_frames(DEMO)]
    truth = eye_labels(DEMO)
    judged = np.isin(AUS, JUDGED)
    labels = np.where(judged, truth, NOT_CODED)
    fps = round(open_video(DEMO).fps)
    for name, (first, last) in HALVES.items():
        write_video(workdir / "videos" / f"{name}.mp4", frames[first : last + 1], fps)
        write_label_file(workdir / "labels" / f"{name}.txt", AUS, labels[first : last + 1])


def single_face_agreement(url: str, out: Path) -> dict:
    assert cli(["export", "--video", SINGLE_FACE.stem, "--format", "affwild2", "--out", str(out),
                "--db", url]) == 0
    predicted = read_label_file(out / f"{SINGLE_FACE.stem}.txt").labels
    truth = eye_labels(SINGLE_FACE)
    return agreement(predicted, truth, np.ones(len(truth), bool))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="finetune-real-clip-"))
    url = f"sqlite:///{workdir / 'annotations.sqlite3'}"
    write_halves(workdir)
    for video in [*sorted((workdir / "videos").glob("*.mp4")), SINGLE_FACE]:
        assert cli(["process", str(video), "--db", url]) == 0
    assert cli(["import-labels", str(workdir / "labels"), "--coder", "eye", "--db", url]) == 0
    before = single_face_agreement(url, workdir / "before")
    print(f"--- au-annotator finetune --epochs {args.epochs} --activate ---", flush=True)
    status = cli(["finetune", "--epochs", str(args.epochs), "--activate", "--db", url])
    after = single_face_agreement(url, workdir / "after")
    print(f"--- single_face.mp4 against its eye labels (finetune exit status {status}) ---")
    print(format_agreement("before fine-tuning", before))
    print(format_agreement("after", after))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
