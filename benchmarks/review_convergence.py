"""A simulated coder follows the review queue on the demo clip and learns after each correction.

    python benchmarks/review_convergence.py [--budget 0.10] [--workdir DIR]

Everything goes through the product: `process` pre-fills the clip; at each step `queue` (the
command line, as the app shows it) proposes stretches; the coder takes the first one the eye
labels (tests/data/eye_labels) say something about, labels its frames as the eye labels do
(frames the eye labels leave at -1 are left alone), then `adapt` learns. Printed after each
step: the share of the clip's frame × AU cells touched so far and the whole-clip agreement of
the coder's effective labels (their corrections, the learnt pre-fill elsewhere) with the eye
labels, over every judged cell. Stops when the budget of cells is spent or the queue is empty.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from eye_labels import AUS, DEMO, agreement, eye_labels

from annotator.cli import main as cli
from annotator.services import Services, actions
from model.au_sets import NOT_CODED

CODER = "simulated"


def queue(url: str, limit: int = 50) -> list[tuple[str, int, int, str]]:
    """The `queue` command's lines as (AU, first, last, reason)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(["queue", "--video", DEMO.stem, "--coder", CODER, "--limit", str(limit),
                    "--db", url]) == 0
    items = []
    for line in out.getvalue().splitlines():
        au, first, last, _score, reason = line.split(" ", 4)
        items.append((au, int(first), int(last), reason))
    return items


def whole_clip_agreement(url: str, video_id: int, truth: np.ndarray) -> float:
    state = actions.review_state(Services.open(url), video_id, CODER)
    judged = tuple(au for k, au in enumerate(AUS) if (truth[:, k] != NOT_CODED).any())
    return agreement(state.labels, truth, np.ones(len(truth), bool), judged)["pooled"][0]


def label_stretch(url: str, video_id: int, truth: np.ndarray, au: str, first: int,
                  last: int) -> int:
    """Label first..last of `au` as the eye labels do; returns the cells touched."""
    k = AUS.index(au)
    touched = 0
    frames = np.arange(first, last + 1)
    values = truth[frames, k]
    for value in (0, 1):
        chosen = frames[values == value]
        if len(chosen) == 0:
            continue
        # consecutive runs, each one edit
        breaks = np.flatnonzero(np.diff(chosen) != 1) + 1
        for run in np.split(chosen, breaks):
            actions.set_label(Services.open(url), video_id, CODER, (au,), int(run[0]),
                              int(run[-1]), value)
            touched += len(run)
    return touched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.10,
                        help="share of frame × AU cells the coder may touch (default 0.10)")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="review-convergence-"))
    url = f"sqlite:///{workdir / 'annotations.sqlite3'}"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(["process", str(DEMO), "--db", url]) == 0
    video_id = actions.processed_videos(Services.open(url))[0].id
    truth = eye_labels(DEMO)
    cells = truth.size
    touched, seen, step = 0, set(), 0
    print(f"demo clip: {len(truth)} frames × {len(AUS)} AUs = {cells} cells; budget "
          f"{args.budget:.0%}")
    print(f"step  0: touched 0.000  agreement {whole_clip_agreement(url, video_id, truth):.3f}")
    while touched < args.budget * cells:
        proposed = [item for item in queue(url) if item[:3] not in seen]
        usable = [item for item in proposed
                  if (truth[item[1]:item[2] + 1, AUS.index(item[0])] != NOT_CODED).any()]
        seen.update(item[:3] for item in proposed if item not in usable)
        if not usable:
            print("queue empty (nothing left the eye labels judge)")
            break
        au, first, last, reason = usable[0]
        seen.add((au, first, last))
        touched += label_stretch(url, video_id, truth, au, first, last)
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli(["adapt", "--video", DEMO.stem, "--coder", CODER, "--db", url]) == 0
        step += 1
        print(f"step {step:2d}: touched {touched / cells:.3f}  agreement "
              f"{whole_clip_agreement(url, video_id, truth):.3f}  ({au} {first}-{last}: "
              f"{reason})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
