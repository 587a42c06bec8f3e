"""A small synthetic Aff-Wild2-format AU dataset made from real faces, with exact labels.

Each clip takes a run of consecutive real frames (a fixed crop around the face, so natural head
motion stays) in which the lips are closed, and puts AU episodes on them with landmark-driven
warps (annotator.au_warps): every AU is switched on in random episodes with a ramp up, a hold
and a ramp down; a frame is labelled 1 for an AU while that AU's intensity is at least half.
Brow raising (AU1, AU2) never overlaps brow lowering (AU4), nor lip-corner pulling (AU12)
depressing (AU15), since their warps would cancel.

Layout written (what model.affwild2 reads):
    OUT/videos/<name>.mp4                          H.264 clips
    OUT/AU_Set/Training_Set/<name>.txt             abaw2020 labels (Validation_Set likewise)
For abaw12 the label folders are AU_Detection_Challenge/Train_Set|Validation_Set and the AUs
the warps cannot make are written -1 (not annotated).

Labels are only as clean as the source frames are neutral: an expression already in a source
frame is not labelled. Use sources whose closed-mouth frames are near neutral.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from annotator.au_warps import SYNTHETIC_AUS, apply_aus
from annotator.errors import InputError
from annotator.labels import write_label_file
from annotator.pipeline import landmarks_for_video
from annotator.video import iter_frames
from model.affwild2 import LAYOUTS
from model.constants import NOT_CODED, au_names
from model.face_template import INNER_LIPS, inter_ocular_distance

logger = logging.getLogger(__name__)

DEMO_VIDEO = Path(__file__).parent / "demo" / "WolfgangLanger_Pexels.mp4"
_EXCLUSIVE = {"AU1": ("AU4",), "AU2": ("AU4",), "AU4": ("AU1", "AU2"),
              "AU12": ("AU15",), "AU15": ("AU12",)}
CLOSED_LIPS = 0.05  # IOD: inner-lip gap under this is a closed mouth


@dataclass(frozen=True)
class SyntheticConfig:
    train_clips: int = 6
    validation_clips: int = 2
    frames_per_clip: int = 60
    size: int = 224  # side of the square clips; the face spans about half of it
    face_span: float = 1.8  # crop side in face-box widths
    fps: int = 25
    episode_chance: float = 0.45  # chance of each of up to two episodes per AU and clip
    episode_frames: tuple[int, int] = (12, 30)  # shortest, longest episode
    ramp_frames: int = 4  # onset and offset length
    au_set: str = "abaw2020"
    seed: int = 0


@dataclass
class SourceFrames:
    """Closed-mouth face frames of one real video, cropped and resized, with their landmarks."""

    name: str
    frames: list[np.ndarray]  # (S, S, 3) uint8 each
    landmarks: np.ndarray  # (N, 68, 2) float32, crop pixels
    runs: list[tuple[int, int]]  # [start, stop) of consecutive usable frames


def load_source(path: Path, config: SyntheticConfig, backend: str = "dlib") -> SourceFrames:
    """Usable frames of a real face video: face found, lips closed; cropped around the face."""
    table = landmarks_for_video(path, backend=backend)
    if not table.face.any():
        raise InputError(path, "no face found; cannot make synthetic clips from it")
    boxes = table.box[table.face]
    centre = np.median((boxes[:, :2] + boxes[:, 2:]) / 2, axis=0)
    side = float(np.median(boxes[:, 2] - boxes[:, 0])) * config.face_span
    origin = centre - side / 2
    scale = config.size / side
    gap = _lip_gap(table.landmarks)
    usable = table.face & (gap < CLOSED_LIPS)
    frames, landmarks, keep = [], [], []
    for frame in iter_frames(path):
        if usable[frame.index]:
            frames.append(_crop(frame.rgb, origin, side, config.size))
            landmarks.append((table.landmarks[frame.index] - origin) * scale)
            keep.append(frame.index)
    if not frames:
        raise InputError(path, "no frame with a closed mouth; cannot make synthetic clips")
    logger.info("%s: %d of %d frames usable as sources", path, len(frames), len(table))
    return SourceFrames(path.stem, frames, np.asarray(landmarks, np.float32), _runs(keep))


def _lip_gap(landmarks: np.ndarray) -> np.ndarray:
    upper, lower = landmarks[:, INNER_LIPS[1:4], 1], landmarks[:, INNER_LIPS[7:4:-1], 1]
    with np.errstate(invalid="ignore"):
        gap = np.maximum(lower - upper, 0).mean(axis=1) / inter_ocular_distance(landmarks)
    return np.nan_to_num(gap, nan=np.inf)


def _crop(rgb: np.ndarray, origin: np.ndarray, side: float, size: int) -> np.ndarray:
    scale = size / side
    matrix = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]])
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """[start, stop) positions in `indices` where the frame numbers are consecutive."""
    runs, start = [], 0
    for position in range(1, len(indices) + 1):
        if position == len(indices) or indices[position] != indices[position - 1] + 1:
            runs.append((start, position))
            start = position
    return runs


def au_intensities(rng: np.random.Generator, config: SyntheticConfig) -> dict[str, np.ndarray]:
    """Per-AU intensity over the clip's frames (0 … 1): random onset/hold/offset episodes."""
    count = config.frames_per_clip
    tracks = {au: np.zeros(count, dtype=np.float32) for au in SYNTHETIC_AUS}
    for au in rng.permutation(SYNTHETIC_AUS):
        for _ in range(2):
            if rng.random() >= config.episode_chance:
                continue
            episode = _episode(rng, config)
            clashes = sum(tracks[other] for other in _EXCLUSIVE.get(au, ()))
            if np.any((episode > 0) & (np.asarray(clashes) > 0)):
                continue
            tracks[au] = np.maximum(tracks[au], episode)
    return tracks


def _episode(rng: np.random.Generator, config: SyntheticConfig) -> np.ndarray:
    count, ramp = config.frames_per_clip, config.ramp_frames
    length = int(rng.integers(config.episode_frames[0], config.episode_frames[1] + 1))
    start = int(rng.integers(-length // 3, count - 2 * length // 3))
    peak = float(rng.uniform(0.75, 1.0))
    frames = np.arange(count) - start
    rising = np.clip((frames + 1) / (ramp + 1), 0, 1)
    falling = np.clip((length - frames) / (ramp + 1), 0, 1)
    return (peak * np.minimum(rising, falling)).astype(np.float32)


def clip_labels(tracks: dict[str, np.ndarray], au_set: str) -> np.ndarray:
    """(T, K) int8 labels: 1 while an AU's intensity is ≥ 0.5, -1 for AUs not synthesised."""
    count = len(next(iter(tracks.values())))
    columns = [
        (tracks[au] >= 0.5).astype(np.int8) if au in tracks
        else np.full(count, NOT_CODED, dtype=np.int8)
        for au in au_names(au_set)
    ]
    return np.stack(columns, axis=1)


def render_clip(
    source: SourceFrames, tracks: dict[str, np.ndarray], rng: np.random.Generator
) -> list[np.ndarray]:
    """The clip's frames: a walk along one run of source frames with the AUs warped in."""
    start, stop = source.runs[int(rng.integers(len(source.runs)))]
    walk = _ping_pong(start, stop, len(next(iter(tracks.values()))), rng)
    frames = []
    for t, index in enumerate(walk):
        intensities = {au: float(track[t]) for au, track in tracks.items() if track[t] > 0}
        warped, _ = apply_aus(source.frames[index], source.landmarks[index], intensities)
        frames.append(warped)
    return frames


def _ping_pong(start: int, stop: int, count: int, rng: np.random.Generator) -> list[int]:
    # Forward and back along the run, so a short run still gives smooth, natural motion.
    cycle = list(range(start, stop)) + list(range(stop - 2, start, -1)) or [start]
    offset = int(rng.integers(len(cycle)))
    return [cycle[(offset + t) % len(cycle)] for t in range(count)]


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """H.264 MP4 (yuv420p, near-lossless), written to a partial file and then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "16", "preset": "veryfast"}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    partial.replace(path)


def make_synthetic_dataset(
    out_dir: str | Path, sources: list[Path], config: SyntheticConfig | None = None,
    backend: str = "dlib",
) -> list[Path]:
    """Write the dataset under `out_dir`; returns the label files written (train first)."""
    config = config or SyntheticConfig()
    out_dir = Path(out_dir)
    loaded = [load_source(Path(path), config, backend) for path in sources]
    label_root, splits = LAYOUTS[config.au_set]
    rng = np.random.default_rng(config.seed)
    written = []
    for number in range(config.train_clips + config.validation_clips):
        split = "train" if number < config.train_clips else "validation"
        source = loaded[number % len(loaded)]
        name = f"synthetic_{number:03d}_{source.name}"
        tracks = au_intensities(rng, config)
        frames = render_clip(source, tracks, rng)
        write_video(out_dir / "videos" / f"{name}.mp4", frames, config.fps)
        label_path = out_dir / label_root / splits[split] / f"{name}.txt"
        write_label_file(label_path, au_names(config.au_set), clip_labels(tracks, config.au_set))
        written.append(label_path)
    logger.info("wrote %d synthetic clips to %s", len(written), out_dir)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m annotator.synthetic",
        description="Write a small synthetic Aff-Wild2-format AU dataset made from real faces.",
    )
    parser.add_argument("out", type=Path, help="dataset folder to create")
    parser.add_argument("--sources", type=Path, nargs="+", default=[DEMO_VIDEO],
                        help="real face videos to take frames from (default: the demo clip)")
    parser.add_argument("--train", type=int, default=SyntheticConfig.train_clips)
    parser.add_argument("--validation", type=int, default=SyntheticConfig.validation_clips)
    parser.add_argument("--frames", type=int, default=SyntheticConfig.frames_per_clip)
    parser.add_argument("--au-set", default=SyntheticConfig.au_set, choices=sorted(LAYOUTS))
    parser.add_argument("--seed", type=int, default=SyntheticConfig.seed)
    args = parser.parse_args(argv)
    config = SyntheticConfig(train_clips=args.train, validation_clips=args.validation,
                             frames_per_clip=args.frames, au_set=args.au_set, seed=args.seed)
    try:
        labels = make_synthetic_dataset(args.out, args.sources, config)
    except InputError as error:
        print(f"synthetic: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(labels)} clips to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
