"""Learning from a coder's corrections on a real clip: the demo clip (472 frames, one woman
crying, then laughing) with labels judged by eye (tests/data/eye_labels).

    python benchmarks/adapt_real_clip.py [--workdir DIR]

A coder labels only alternate 2-second stretches (the eye labels of those frames, imported as
their corrections); `au-annotator adapt` learns from them; the exported pre-fill is then scored
against the eye labels on the other stretches, the frames it did not learn from, per AU, beside
the geometry baseline's pre-fill on the same frames. Both ways round: labelling the even
stretches (0–2 s, 4–6 s, ...) and the odd ones. Everything runs through the product's command
line: process, import-labels, adapt, export.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from eye_labels import AUS, DEMO, JUDGED, agreement, eye_labels, format_agreement

from annotator.cli import main as cli
from model.affwild2_files import read_label_file, write_label_file
from model.au_sets import NOT_CODED

STRETCH_S = 2.0


def exported(url: str, out: Path, coder: str | None) -> np.ndarray:
    args = ["export", "--video", DEMO.stem, "--format", "affwild2", "--out", str(out),
            "--db", url]
    assert cli([*args, "--coder", coder] if coder else args) == 0
    return read_label_file(out / f"{DEMO.stem}.txt").labels


def one_way(workdir: Path, labelled_parity: int) -> dict:
    url = f"sqlite:///{workdir / 'annotations.sqlite3'}"
    assert cli(["process", str(DEMO), "--db", url]) == 0
    truth = eye_labels(DEMO)
    stretch = (np.arange(len(truth)) // round(25 * STRETCH_S)) % 2
    coded = np.where((stretch == labelled_parity)[:, None], truth, NOT_CODED)
    write_label_file(workdir / "labels" / f"{DEMO.stem}.txt", AUS, coded)
    baseline = exported(url, workdir / "baseline", None)
    assert cli(["import-labels", str(workdir / "labels"), "--coder", "eye", "--db", url]) == 0
    assert cli(["adapt", "--video", DEMO.stem, "--db", url]) == 0
    adapted = exported(url, workdir / "adapted", "eye")
    others = stretch != labelled_parity
    return {"baseline": agreement(baseline, truth, others),
            "adapted": agreement(adapted, truth, others)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="adapt-real-clip-"))
    for parity, name in ((0, "even"), (1, "odd")):
        print(f"--- coder labels the {name} 2-second stretches; scored on the others ---")
        scores = one_way(workdir / name, parity)
        print("agreement with the eye labels (" + ", ".join(
            f"{au} {n} frames" for au, (_, n) in scores["adapted"].items()) + "):")
        for label in ("baseline", "adapted"):
            print(format_agreement(label, scores[label]))
        print(f"pooled over {', '.join(JUDGED)}: adapted "
              f"{scores['adapted']['pooled'][0]:.3f}, baseline "
              f"{scores['baseline']['pooled'][0]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
