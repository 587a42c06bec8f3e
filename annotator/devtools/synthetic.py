"""A small synthetic Aff-Wild2-format AU dataset made from real faces, with exact labels.

Each clip takes a run of consecutive real frames (a fixed crop around the face, so natural head
motion stays) in which the lips are closed, and puts AU episodes on them with landmark-driven
warps (below): every AU is switched on in random episodes with a ramp up, a hold
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

The warps: each AU moves a few landmark groups by a set amount in the face's own frame (x
towards the image-right eye, y towards the chin), in units of the inter-ocular distance (IOD).
Around each moved landmark the image follows a Gaussian displacement field (radius per handle),
so skin, brows and lips slide smoothly as in a real movement. Displacements are well below the
field's radius, so the warp never folds. Lip parting (AU25) also paints a dark mouth opening
between the moved inner lips, because stretching closed lips alone shows no gap to a landmark
detector. These warps make a training set whose labels are exact; they are not a face model.
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

from annotator import DEMO_VIDEO
from annotator.processing.extraction import landmarks_for_video
from annotator.processing.video import iter_frames
from model.affwild2_files import LAYOUTS, write_label_file
from model.au_sets import NOT_CODED, au_names
from model.baseline import CLOSED_LIPS, lip_gap
from model.errors import InputError
from model.features import EYE_LEFT, EYE_RIGHT, INNER_LIPS
from model.files import atomic_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handle:
    points: tuple[int, ...]  # iBUG indices moved together
    dx: float  # IOD, towards the image-right eye (mirrored for the image-left half of the face)
    dy: float  # IOD, towards the chin (negative = up)
    sigma: float = 0.16  # IOD: radius of the displacement field around each point
    mirror: bool = True  # dx points away from the face's midline (True) or in absolute x


# Peak movements per AU (intensity 1). Values are a clear but natural-looking expression.
AU_HANDLES: dict[str, tuple[Handle, ...]] = {
    "AU1": (Handle((20, 21, 22, 23), 0.0, -0.13), Handle((19, 24), 0.0, -0.07)),
    "AU2": (Handle((17, 18, 25, 26), 0.0, -0.13), Handle((19, 24), 0.0, -0.06)),
    # Small radii where handles moving apart sit close: the two inner brows, the two eyelids.
    "AU4": (
        Handle((20, 21, 22, 23), -0.06, 0.11, sigma=0.09),
        Handle((18, 19, 24, 25), -0.02, 0.06, sigma=0.09),
    ),
    "AU6": (
        Handle((40, 41, 46, 47), 0.0, -0.06, sigma=0.06),
        Handle((37, 38, 43, 44), 0.0, 0.025, sigma=0.06),
        Handle((1, 2, 14, 15), -0.02, -0.07),
    ),
    "AU12": (Handle((48, 54), 0.09, -0.11), Handle((49, 59, 53, 55), 0.04, -0.05)),
    "AU15": (Handle((48, 54), 0.01, 0.11), Handle((59, 55), 0.0, 0.05)),
    "AU20": (Handle((48, 54), 0.13, 0.015), Handle((49, 59, 53, 55), 0.06, 0.0)),
    "AU25": (
        Handle((56, 57, 58, 65, 66, 67), 0.0, 0.13),
        Handle((55, 59), 0.0, 0.07),
        Handle((61, 62, 63), 0.0, -0.03),
    ),
}
SYNTHETIC_AUS = tuple(AU_HANDLES)
_MOUTH_COLOUR = np.array([45, 22, 22], dtype=np.float32)  # dark red-brown of an open mouth


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(x axis, y axis, IOD, midline point) of a face: unit vectors in image coordinates."""
    left, right = landmarks[EYE_LEFT].mean(axis=0), landmarks[EYE_RIGHT].mean(axis=0)
    across = right - left
    iod = float(np.linalg.norm(across))
    x_axis = across / iod
    y_axis = np.array([-x_axis[1], x_axis[0]])  # x rotated 90° clockwise: towards the chin
    return x_axis, y_axis, iod, (left + right) / 2


def landmark_moves(
    landmarks: np.ndarray, intensities: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) pixel displacement of each landmark for the given AU intensities (0 … 1), and
    (68,) the radius in pixels of each moved landmark's field (the smallest asked for it)."""
    x_axis, y_axis, iod, middle = face_axes(landmarks)
    moves = np.zeros_like(landmarks, dtype=np.float64)
    radii = np.full(len(landmarks), np.inf)
    for au, intensity in intensities.items():
        if intensity <= 0:
            continue
        for handle in AU_HANDLES[au]:
            for point in handle.points:
                side = np.sign((landmarks[point] - middle) @ x_axis) if handle.mirror else 1.0
                moves[point] += intensity * iod * (side * handle.dx * x_axis + handle.dy * y_axis)
                radii[point] = min(radii[point], handle.sigma * iod)
    return moves, radii


def displacement_field(
    shape: tuple[int, int], landmarks: np.ndarray, moves: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """(H, W, 2) displacement: each moved landmark pulls its surroundings with a Gaussian."""
    height, width = shape
    moved = np.flatnonzero(np.abs(moves).sum(axis=1) > 1e-6)
    field = np.zeros((height, width, 2), dtype=np.float32)
    if len(moved) == 0:
        return field
    # A round Gaussian is the product of one along y and one along x, so the sums over the
    # moved landmarks are matrix products: (H, P) · (P, W).
    spread = (2 * radii[moved] ** 2).astype(np.float32)[:, None]
    along_y = np.exp(-((np.arange(height, dtype=np.float32) - landmarks[moved, 1:2]) ** 2)
                     / spread).astype(np.float32)
    along_x = np.exp(-((np.arange(width, dtype=np.float32) - landmarks[moved, 0:1]) ** 2)
                     / spread).astype(np.float32)
    pulls = moves[moved].astype(np.float32)
    field[..., 0] = along_y.T @ (pulls[:, 0:1] * along_x)
    field[..., 1] = along_y.T @ (pulls[:, 1:2] * along_x)
    weights_total = along_y.T @ along_x
    # Neighbouring handles overlap; dividing where they pile up keeps each landmark's move
    # close to its own value instead of the sum of its neighbours'.
    return field / np.maximum(weights_total, 1.0)[..., None]


def apply_aus(
    rgb: np.ndarray, landmarks: np.ndarray, intensities: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The frame with the AUs applied, and its moved (68, 2) landmarks."""
    moves, radii = landmark_moves(landmarks, intensities)
    if not np.any(moves):
        return rgb.copy(), landmarks.copy()
    field = displacement_field(rgb.shape[:2], landmarks, moves, radii)
    height, width = rgb.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Backward mapping: the output pixel p shows the input at p − D(p) (fine for small moves).
    warped = cv2.remap(
        rgb, xs - field[..., 0], ys - field[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    moved_landmarks = (landmarks + moves).astype(np.float32)
    parting = intensities.get("AU25", 0.0)
    if parting > 0:
        warped = _paint_mouth_opening(warped, moved_landmarks, parting)
    return warped, moved_landmarks


def _paint_mouth_opening(rgb: np.ndarray, landmarks: np.ndarray, parting: float) -> np.ndarray:
    mask = np.zeros(rgb.shape[:2], dtype=np.float32)
    cv2.fillPoly(mask, [np.round(landmarks[INNER_LIPS]).astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.2) * min(1.0, parting * 1.5)
    painted = rgb * (1 - mask[..., None]) + _MOUTH_COLOUR * mask[..., None]
    return np.clip(painted, 0, 255).astype(np.uint8)


_EXCLUSIVE = {"AU1": ("AU4",), "AU2": ("AU4",), "AU4": ("AU1", "AU2"),
              "AU12": ("AU15",), "AU15": ("AU12",)}


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
    with np.errstate(invalid="ignore"):
        gap = np.nan_to_num(lip_gap(table.landmarks), nan=np.inf)  # no face: never usable
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
    """H.264 MP4 (yuv420p, near-lossless), written atomically."""
    with atomic_path(path) as temporary, av.open(str(temporary), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "16", "preset": "veryfast"}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))


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
        prog="python -m annotator.devtools.synthetic",
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
