"""Label files as a lab writes them with its own tools, for the import tests."""

from __future__ import annotations

from pathlib import Path

from pympi.Elan import Eaf


def lab_elan(path: Path, tiers: dict[str, list[tuple[int, int]]],
             media: Path | None = None) -> None:
    """An ELAN file as a lab codes it: its own tier names, spans in milliseconds (boundaries
    near, not on, frames), linked to `media` when given."""
    document = Eaf(author="lab")
    if media is not None:
        document.add_linked_file(media.absolute().as_uri(), mimetype="video/mp4")
    for tier, spans in tiers.items():
        document.add_tier(tier)
        for start, end in spans:
            document.add_annotation(tier, start, end, value="x")
    document.remove_tier("default")
    document.to_file(str(path))
