"""Exporting effective labels: Aff-Wild2 label files and OpenFace-style CSV.

One file per video and person: `<video>.txt`, or `<video>_left.txt` / `<video>_right.txt` for
the sides of a two-person video. Frames a coder reviewed carry the coder's values (even where
the face detector found no face: the coder saw one). Unreviewed frames carry the latest model
run's pre-fill, or -1 with `unreviewed="not-coded"`; unreviewed frames without a face are
always -1, and a video without any model run has nothing to pre-fill (-1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from annotator.errors import InputError
from annotator.labels import write_label_file, write_text_atomically
from db.corrections import tracks
from db.effective import EffectiveLabels, effective_labels
from db.models import Video
from model.constants import NOT_CODED

logger = logging.getLogger(__name__)

FORMATS = ("affwild2", "openface-csv")
UNREVIEWED = ("prefill", "not-coded")


@dataclass(frozen=True)
class ExportOptions:
    format: str = "affwild2"
    coder: str | None = None  # None: the video's only coder, or the model when nobody coded it
    unreviewed: str = "prefill"  # or "not-coded" (-1)
    au_set: str | None = None  # None: the latest run's, else the one the labels use

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"export format must be one of {FORMATS}, got {self.format!r}")
        if self.unreviewed not in UNREVIEWED:
            raise ValueError(f"unreviewed must be one of {UNREVIEWED}, got {self.unreviewed!r}")


def export_video(
    session: Session, video: Video, out_dir: str | Path, options: ExportOptions
) -> list[Path]:
    """Write the video's labels into `out_dir`; returns the files written."""
    out_dir = Path(out_dir)
    coder = options.coder if options.coder is not None else _only_coder(session, video)
    sides = sorted(
        {t.side for t in tracks(session, video.id) if t.coder == coder},
        key=lambda side: side or "",
    ) or [None]
    written = []
    for side in sides:
        labels = effective_labels(session, video, coder, side, options.au_set)
        values = _exported_values(labels, options.unreviewed)
        stem = f"{video.name}_{side}" if side else video.name
        if options.format == "affwild2":
            path = write_label_file(out_dir / f"{stem}.txt", labels.aus, values)
        else:
            csv_text = openface_csv(labels.aus, values, video.fps)
            path = write_text_atomically(out_dir / f"{stem}.csv", csv_text)
        logger.info("exported video %d (%s) to %s", video.id, coder or "model", path)
        written.append(path)
    return written


def openface_csv(aus: tuple[str, ...], labels: np.ndarray, fps: float) -> str:
    """OpenFace-style CSV: frame (1-based), timestamp (s), then one `AU01_c` column per AU."""
    header = ["frame", "timestamp", *(f"AU{int(au[2:]):02d}_c" for au in aus)]
    lines = [",".join(header)]
    for index, row in enumerate(np.asarray(labels)):
        values = ",".join(str(int(v)) for v in row)
        lines.append(f"{index + 1},{index / fps:.3f},{values}")
    return "\n".join(lines) + "\n"


def _exported_values(labels: EffectiveLabels, unreviewed: str) -> np.ndarray:
    values = labels.labels.copy()
    if unreviewed == "not-coded":
        values[~labels.reviewed] = NOT_CODED
    return values


def _only_coder(session: Session, video: Video) -> str | None:
    coders = sorted({t.coder for t in tracks(session, video.id)})
    if len(coders) > 1:
        raise InputError(
            video.path, f"labelled by several coders ({', '.join(coders)}); choose one with --coder"
        )
    return coders[0] if coders else None
