"""au-annotator application layer: video decoding, landmarks, pipeline, labels, CLI, UI helpers."""

__version__ = "0.1.0"
