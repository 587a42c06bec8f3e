"""Following one subject through a video when several faces are visible."""

from __future__ import annotations

import numpy as np

# A box must overlap the previous one at least this much to count as the same person;
# below it the track is lost and the subject is re-acquired as the largest face.
MIN_OVERLAP = 0.3


def box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def pick_subject(boxes: list[np.ndarray], previous: np.ndarray | None) -> int | None:
    """Index of the subject's box among `boxes`.

    Without a previous box: the largest face. With one: the face overlapping it most, or None
    when no face overlaps enough (the caller then decides whether to re-acquire).
    """
    if not boxes:
        return None
    if previous is None:
        return int(np.argmax([box_area(b) for b in boxes]))
    overlaps = [box_overlap(b, previous) for b in boxes]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= MIN_OVERLAP else None
