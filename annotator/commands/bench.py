"""`au-annotator bench VIDEO`: frames/s of the whole pipeline against a reference path."""

from __future__ import annotations

from pathlib import Path

NAME = "bench"
HELP = "time decode → landmarks → features → AU probabilities against a reference"


def add_arguments(parser) -> None:
    parser.add_argument("video", type=Path)
    parser.add_argument("--backend", choices=("dlib", "fan"), default="dlib")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run over the video N times (longer input, steadier figures)")


def run(args) -> int:
    import torch

    from annotator import bench
    from annotator.landmarks import make_backend
    from annotator.video import open_video

    info = open_video(args.video)
    backend = make_backend(args.backend, args.device)
    ours = bench.end_to_end(args.video, info, backend, args.device, args.repeat)
    if args.device == "cuda":
        reference = bench.stock_fan_reference(args.video, args.repeat, backend.library)
        print(f"card={torch.cuda.get_device_name()} "
              f"peak_gpu_memory_mib={torch.cuda.max_memory_allocated() / 2**20:.0f}")
    else:
        reference = bench.dlib_reference(args.video, args.repeat)
    for name, seconds in {**ours.stage_seconds, **reference.stage_seconds}.items():
        print(f"{name}: {seconds:.2f} s")
    print(f"frames={ours.frames} torch_threads={torch.get_num_threads()}")
    print(bench.summary_line(ours, reference))
    return 0
