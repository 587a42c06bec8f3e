"""Frames/s of the whole pipeline on a two-person video against the same frames with one
person, in one run.

Both go through `bench`'s end-to-end path (decode → every face's landmarks → subjects →
features → descriptors → AU network for each subject; annotator.devtools.bench) with the dlib
backend: the two-person test clip (tests/helpers/videos.py: two faces side by side, the right one
away for 1.3 s) and that clip with its right half blanked (one face, the same pictures
otherwise). Runs alternate, so both meet the same machine. The last line is
`one_face_fps=… two_person_fps=… ratio=…`; the goal on CPU is a ratio of at least 0.6.

Run: python benchmarks/two_person.py [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from annotator.devtools import bench
from annotator.processing.extraction import make_backend
from annotator.processing.video import iter_frames, open_video

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers.videos import two_person_video, write_video  # noqa: E402


def one_face_copy(source: Path, target: Path) -> Path:
    """The clip with its right half black: only the left person."""
    frames = [frame.rgb.copy() for frame in iter_frames(source)]
    for rgb in frames:
        rgb[:, rgb.shape[1] // 2:] = 0
    return write_video(target, frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="au-annotator-two-person-"))
    two = two_person_video(folder / "two.mp4", ROOT / "tests" / "data" / "single_face.mp4",
                           ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4")
    one = one_face_copy(two, folder / "one.mp4")
    backend = make_backend("dlib")
    totals = {"one": [0, 0.0], "two": [0, 0.0]}
    for _ in range(args.repeat):
        for name, clip in (("one", one), ("two", two)):
            result = bench.end_to_end(clip, open_video(clip), backend, "cpu", 1)
            totals[name][0] += result.frames
            totals[name][1] += result.seconds
            print(f"{name}: {result.frames} frames, {result.subjects} subject(s), "
                  f"{result.fps:.1f} frames/s")
    one_fps, two_fps = (frames / seconds for frames, seconds in totals.values())
    print(f"torch_threads={torch.get_num_threads()}")
    print(f"one_face_fps={one_fps:.1f} two_person_fps={two_fps:.1f} ratio={two_fps / one_fps:.2f}")


if __name__ == "__main__":
    main()
