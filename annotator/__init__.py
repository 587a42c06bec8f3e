"""au-annotator's application layer, a package per job: processing (a video to stored pre-fills),
labelfiles (label files in and out), learning (in-video adaptation and fine-tuning), jobs (long
work in the background), services (what a coder or admin does, one transaction each), ui (the
page's parts), commands (the CLI's groups, `cli.py` their entry point) and devtools (bench and
synthetic data)."""

from pathlib import Path

__version__ = "0.1.0"

# The bundled demo clip (a real face video; see annotator/demo/NOTICE).
DEMO_VIDEO = Path(__file__).resolve().parent / "demo" / "WolfgangLanger_Pexels.mp4"
