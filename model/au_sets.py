"""AU sets and label values every layer shares: which AUs a set names, what 1, 0 and -1 mean
in a label, and the shapes of the landmarks and the face crop the network sees."""

from __future__ import annotations

NUM_LANDMARKS = 68  # iBUG 68-point scheme (dlib and face-alignment both give it)
CROP_SIZE = 112  # side of the aligned face crop the network sees, in pixels

# Named AU sets, in the fixed order the AU query GRU reads them and label files list them.
AU_SETS: dict[str, tuple[str, ...]] = {
    "abaw2020": ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25"),
    "abaw12": (
        "AU1", "AU2", "AU4", "AU6", "AU7", "AU10",
        "AU12", "AU15", "AU23", "AU24", "AU25", "AU26",
    ),
}
DEFAULT_AU_SET = "abaw2020"

# Label values used everywhere (files, database, arrays).
PRESENT, ABSENT, NOT_CODED = 1, 0, -1


def au_names(au_set: str) -> tuple[str, ...]:
    """The AUs of a named set, or a clear error naming the known sets."""
    try:
        return AU_SETS[au_set]
    except KeyError:
        known = ", ".join(AU_SETS)
        raise ValueError(f"unknown AU set {au_set!r}; known sets: {known}") from None


def au_set_for_header(header: tuple[str, ...]) -> str | None:
    """The AU set whose label-file header is exactly `header`, else None."""
    for name, aus in AU_SETS.items():
        if tuple(header) == aus:
            return name
    return None
