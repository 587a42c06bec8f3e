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
    parser.add_argument("--random-weights", action="store_true",
                        help="fan: random-init weights in a temporary folder (no download; "
                             "speed does not depend on weights)")
    parser.add_argument("--boxes", choices=("detector", "dlib"), default="detector",
                        help="fan: face boxes from its detector, or from the dlib backend for "
                             "both paths (so random weights still see one face per frame)")


def run(args) -> int:
    import torch

    from annotator import bench
    from annotator.landmarks import make_backend
    from annotator.video import open_video

    info = open_video(args.video)
    if args.random_weights:
        bench.use_random_fan_weights()
    backend = make_backend(args.backend, args.device)
    boxes = None
    if args.boxes == "dlib":
        from annotator.pipeline import landmarks_for_video

        boxes = landmarks_for_video(args.video, "dlib")
        backend.use_known_boxes(boxes)
        print(f"boxes=dlib frames_with_face={int(boxes.face.sum())}/{len(boxes)}")
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
    print(f"frames={ours.frames} torch_threads={torch.get_num_threads()}")
    print(bench.summary_line(ours, reference))
    return 0
