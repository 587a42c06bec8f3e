"""au-annotator application layer: video decoding, landmarks, the pipeline, label files, jobs,
fine-tuning, the app's actions and UI helpers, and the command line."""

from pathlib import Path

__version__ = "0.1.0"

# The bundled demo clip (a real face video; see annotator/demo/NOTICE).
DEMO_VIDEO = Path(__file__).resolve().parent / "demo" / "WolfgangLanger_Pexels.mp4"
