"""Record the pre-fills that tests/annotator/test_prefill_unchanged.py holds the speed work to:
each bundled clip (single_face, the demo clip, the two-person clip of tests/helpers/videos.py)
processed from an empty cache into an empty database, and each pre-filled subject's stored
labels and face frames saved to one .npz.

The file in tests/data was recorded with the code of commit 4d93277 (before the speed work),
run with this script as it stood in commit ad84738 (the code then took a database URL where it
now takes annotator.services.Services):

    mkdir /tmp/reference && git archive 4d93277 | tar -x -C /tmp/reference
    PYTHONPATH=/tmp/reference .venv/bin/python benchmarks/prefill_speed_reference.py \\
        tests/data/prefill_reference.npz

With `--compare FILE` it prints, per clip and subject, the share of frame × AU labels that the
code found on PYTHONPATH stores identically to FILE.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/helpers, which the test imports
sys.path.insert(0, str(ROOT / "tests" / "annotator"))  # the test's own reading of a pre-fill

from test_prefill_unchanged import reference_clips, stored_prefills  # noqa: E402

import annotator  # noqa: E402


def record() -> dict[str, np.ndarray]:
    found = {}
    with tempfile.TemporaryDirectory(prefix="au-annotator-prefill-reference-") as scratch:
        root = Path(scratch)
        clips = reference_clips(ROOT / "tests" / "data" / "single_face.mp4",
                                ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4", root)
        for name, clip in clips.items():
            os.environ["AU_ANNOTATOR_CACHE"] = str(root / f"cache-{name}")
            url = f"sqlite:///{root / f'{name}.sqlite3'}"
            for key, value in stored_prefills(clip, url).items():
                found[f"{name}/{key}"] = value
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, nargs="?", help="the .npz to write")
    parser.add_argument("--compare", type=Path, help="a recorded .npz to compare with instead")
    args = parser.parse_args()
    print(f"code: {Path(annotator.__file__).parent}", flush=True)
    found = record()
    if args.compare is not None:
        with np.load(args.compare) as reference:
            for key in sorted(reference.files):
                same = float(np.mean(found[key] == reference[key])) if key in found else 0.0
                print(f"{key}: {same:.4f} identical")
    elif args.output is not None:
        np.savez_compressed(args.output, **found)
        print(f"wrote {args.output}: {', '.join(sorted(found))}")


if __name__ == "__main__":
    main()
