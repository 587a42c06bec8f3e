"""ELAN annotation files (`.eaf`) in and out, read and written with pympi-ling.

Written: the video linked as media, one tier per AU (`AU12`) holding its present stretches
(annotation value "present"), a tier `AU12 not codable` for an AU with stretches exported as -1,
and a tier `Review` telling the coder's reviewed frames from the model's pre-fill: its
annotations read "reviewed" (every AU), "pre-fill" (none) or "reviewed: AU1, AU12" (those AUs
only). Times are whole milliseconds from the decoded frames' times (annotator.labelfiles.exchange),
a stretch running from its first frame's start to its last frame's end.

Read: AU tiers are found by name: `AU12`, `AU 12`, `au12`, `AU012`, `AU12_c`, `AU-12`, or any
name the tier map gives an AU (`Smile=AU12`); `AU12 not codable` tiers mark frames the coder
could not code (-1). A frame belongs to an annotation when its middle lies inside it, so
annotations drawn by hand a little off the frame boundaries still land on the right frames.
Without a `Review` tier every AU tier counts as reviewed over the whole video: frames outside
all its annotations are absent. With one, only the frames (and AUs) it marks reviewed count;
elsewhere the coder's labels stay unreviewed. Other tiers are reported as skipped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from pympi.Elan import Eaf, to_string

import db
from annotator.labelfiles.exchange import FrameTimes
from model.au_sets import ABSENT, AU_SETS, NOT_CODED, PRESENT
from model.errors import InputError

REVIEW_TIER = "Review"
PRESENT_TIER, NOT_CODABLE, REVIEW = "present", "not codable", "review"  # tier roles
REVIEWED, PREFILL = "reviewed", "pre-fill"
KNOWN_AUS = tuple(dict.fromkeys(au for aus in AU_SETS.values() for au in aus))
_AU_NAME = re.compile(r"^\s*au\s*[-_ ]?\s*0*(\d{1,2})\s*(?:_c)?\s*$", re.IGNORECASE)
_NOT_CODABLE_NAME = re.compile(r"^\s*au\s*[-_ ]?\s*0*(\d{1,2})\s+not[ -]codable\s*$",
                               re.IGNORECASE)
_VIDEO_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
                ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".m4v": "video/mp4",
                ".mkv": "video/x-matroska", ".webm": "video/webm"}


@dataclass(frozen=True)
class TierReport:
    """How one tier of an imported `.eaf` was read."""

    tier: str
    use: str  # "AU12", "AU12 not codable", "review", or "skipped (why)"
    annotations: int
    frames: int  # frames its annotations cover


@dataclass(frozen=True)
class ElanLabels:
    aus: tuple[str, ...]
    labels: np.ndarray  # (T, K) int8: 1 present, 0 absent, -1 not codable
    coded: np.ndarray  # (T, K) bool: frames and AUs the file says the coder reviewed
    tiers: tuple[TierReport, ...]


def au_named(name: str) -> str | None:
    """`AU12` for a tier or mapping name like `AU 12`, `au012` or `AU12_c`; else None."""
    found = _AU_NAME.match(name)
    return f"AU{int(found.group(1))}" if found else None


def parse_tier_map(entries: list[str]) -> dict[str, str]:
    """{tier name (lower case): AU} from `NAME=AU` pairs, comma-separated, or `@FILE` with one
    pair per line (`#` starts a comment)."""
    pairs = []
    for entry in entries:
        if entry.startswith("@"):
            path = Path(entry[1:])
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as error:
                raise InputError(path, f"cannot read the tier map ({error.__class__.__name__})"
                                 ) from None
            pairs += [(line.split("#")[0], path) for line in lines if line.split("#")[0].strip()]
        else:
            pairs += [(pair, Path("--tier-map")) for pair in entry.split(",") if pair.strip()]
    tier_map = {}
    for pair, source in pairs:
        name, _, au = pair.partition("=")
        if not name.strip() or au_named(au) is None:
            raise InputError(source, f"tier map entry {pair.strip()!r} is not NAME=AU (Smile=AU12)")
        tier_map[name.strip().lower()] = au_named(au)
    return tier_map


# --- writing -----------------------------------------------------------------------------


def elan_text(video: db.Video, author: str, participant: str | None, aus: tuple[str, ...],
              values: np.ndarray, reviewed: np.ndarray, times: FrameTimes, lands_in: Path) -> str:
    """The `.eaf` text of exported (T, K) `values` and the coder's (T, K) `reviewed` mask;
    `lands_in`: the folder the file is opened from, where its relative media path starts (ELAN
    tries it when the absolute one is not found, as after moving both files)."""
    document = Eaf(author=author)
    media = Path(video.path).absolute()
    document.add_linked_file(media.as_uri(), relpath=_relative_url(media, lands_in),
                             mimetype=_VIDEO_TYPES.get(media.suffix.lower(), "video/*"))
    document.remove_tier("default")  # pympi's starting tier
    for au in aus:  # every AU gets its tier, empty where it is never present
        document.add_tier(au, part=participant, ann=author)
    for interval in db.intervals_from_labels(values, aus):
        if interval.value == ABSENT:
            continue
        tier = interval.au if interval.value == PRESENT else f"{interval.au} {NOT_CODABLE}"
        if tier not in document.tiers:
            document.add_tier(tier, part=participant, ann=author)
        document.add_annotation(tier, *times.span_ms(interval.first_frame, interval.last_frame),
                                value="present" if interval.value == PRESENT else NOT_CODABLE)
    document.add_tier(REVIEW_TIER, part=participant, ann=author)
    for first, last, row in _row_runs(np.asarray(reviewed, dtype=bool)):
        document.add_annotation(REVIEW_TIER, *times.span_ms(first, last),
                                value=_review_value(row, aus))
    # ELAN numbers the annotations a coder adds from this property; pympi leaves it at 0
    document.properties = [p for p in document.properties if p[0] != "lastUsedAnnotation"]
    document.add_property("lastUsedAnnotation", document.maxaid)
    return to_string(document)


def _relative_url(media: Path, folder: Path) -> str:
    relative = Path(os.path.relpath(media, folder.absolute())).as_posix()
    return relative if relative.startswith("../") else f"./{relative}"


def _row_runs(mask: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(first, last, row) for each run of identical rows of a (T, K) array."""
    if not len(mask):
        return []
    starts = np.flatnonzero(np.r_[True, (mask[1:] != mask[:-1]).any(axis=1)])
    ends = np.r_[starts[1:] - 1, len(mask) - 1]
    return [(int(s), int(e), mask[s]) for s, e in zip(starts, ends, strict=True)]


def _review_value(row: np.ndarray, aus: tuple[str, ...]) -> str:
    if row.all():
        return REVIEWED
    if not row.any():
        return PREFILL
    return f"{REVIEWED}: " + ", ".join(au for au, done in zip(aus, row, strict=True) if done)


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Role:
    au: str | None  # None: the review tier
    kind: str  # PRESENT_TIER, NOT_CODABLE or REVIEW

    @property
    def use(self) -> str:
        return {PRESENT_TIER: self.au, NOT_CODABLE: f"{self.au} {NOT_CODABLE}"}.get(
            self.kind, "review")


def open_elan(path: Path) -> Eaf:
    try:
        document = Eaf(str(path), suppress_version_warning=True)
    except Exception as error:  # pympi raises a bare Exception (or an XML error) on a bad file
        raise InputError(path, f"not a readable ELAN file ({error})") from None
    # pympi reads annotations without checking what they point at; one naming a time slot or
    # annotation the file lacks would fail later, deep in the import
    for tier in document.get_tier_names():
        try:
            document.get_annotation_data_for_tier(tier)
        except Exception as error:
            raise InputError(path, f"tier {tier!r}: an annotation refers to a time slot or "
                                   f"annotation the file does not define ({error!r})") from None
    return document


def media_names(document: Eaf) -> list[str]:
    """The file stems of the media an ELAN document links (to find its video)."""
    names = []
    for media in document.media_descriptors:
        for url in (media.get("MEDIA_URL"), media.get("RELATIVE_MEDIA_URL")):
            if url:
                names.append(Path(unquote(urlparse(url).path)).stem)
    return list(dict.fromkeys(names))


def elan_labels(path: Path, document: Eaf, times: FrameTimes,
                tier_map: dict[str, str]) -> ElanLabels:
    """The labels an ELAN document holds for a video whose frames have `times`."""
    roles, reports = _tier_roles(path, document, tier_map)
    aus = tuple(au for au in KNOWN_AUS if any(role.au == au for role in roles.values()))
    if not aus:
        names = ", ".join(document.get_tier_names()) or "none"
        raise InputError(path, f"no AU tiers (tiers: {names}); name them like AU12, or map "
                               "them with --tier-map 'NAME=AU12'")
    labels = np.full((len(times.starts), len(aus)), ABSENT, dtype=np.int8)
    coded = np.ones(labels.shape, dtype=bool)
    for kind in (PRESENT_TIER, NOT_CODABLE, REVIEW):  # a not-codable stretch wins over present
        for tier in (tier for tier, role in roles.items() if role.kind == kind):
            annotations = _annotations(document, tier)
            covered = np.zeros(len(times.starts), dtype=bool)
            for start, end, _ in annotations:
                covered |= times.frames_within(start, end)
            if kind == REVIEW:
                coded = _reviewed(path, annotations, times, aus)
            else:
                labels[covered, aus.index(roles[tier].au)] = (
                    PRESENT if kind == PRESENT_TIER else NOT_CODED)
            reports[tier] = TierReport(tier, roles[tier].use, len(annotations),
                                       int(covered.sum()))
    return ElanLabels(aus, labels, coded, tuple(reports.values()))


def _tier_roles(path: Path, document: Eaf,
                tier_map: dict[str, str]) -> tuple[dict[str, _Role], dict[str, TierReport]]:
    """What each tier holds, and a report per tier (skipped tiers say why)."""
    roles: dict[str, _Role] = {}
    reports: dict[str, TierReport] = {}
    for tier in document.get_tier_names():
        role = _tier_role(tier, tier_map)
        if isinstance(role, str):
            reports[tier] = TierReport(tier, f"skipped ({role})", len(_annotations(document, tier)),
                                       0)
            continue
        same = next((other for other, known in roles.items() if known == role), None)
        if same is not None:
            raise InputError(path, f"tiers {same!r} and {tier!r} both hold {role.use}")
        roles[tier] = role
        reports[tier] = TierReport(tier, role.use, 0, 0)
    return roles, reports


def _tier_role(tier: str, tier_map: dict[str, str]) -> _Role | str:
    """The tier's role, or why it is skipped."""
    name = tier.strip()
    if name.lower() in tier_map:
        role = _Role(tier_map[name.lower()], PRESENT_TIER)
    elif name == REVIEW_TIER:
        return _Role(None, REVIEW)
    elif (not_codable := _NOT_CODABLE_NAME.match(name)) is not None:
        role = _Role(f"AU{int(not_codable.group(1))}", NOT_CODABLE)
    elif (au := au_named(name)) is not None:
        role = _Role(au, PRESENT_TIER)
    else:
        return "not an AU name; map it with --tier-map"
    if role.au not in KNOWN_AUS:
        return f"{role.au} is in no AU set ({', '.join(AU_SETS)})"
    return role


def _annotations(document: Eaf, tier: str) -> list[tuple[int, int, str]]:
    """(start ms, end ms, value) of a tier's time-aligned annotations."""
    found = [annotation[:3] for annotation in document.get_annotation_data_for_tier(tier)]
    return [(start, end, value) for start, end, value in found
            if start is not None and end is not None]


def _reviewed(path: Path, annotations, times: FrameTimes, aus: tuple[str, ...]) -> np.ndarray:
    """(T, K) bool: the frames and AUs the review tier's annotations mark reviewed."""
    coded = np.zeros((len(times.starts), len(aus)), dtype=bool)
    for start, end, value in annotations:
        text = value.strip()
        if text == PREFILL:
            continue
        if text == REVIEWED:
            chosen = list(range(len(aus)))
        elif text.startswith(f"{REVIEWED}:"):
            named = [au_named(name) for name in text.partition(":")[2].split(",")]
            chosen = [aus.index(au) for au in named if au in aus]
        else:
            raise InputError(path, f"tier {REVIEW_TIER}, {start}-{end} ms: {value!r} is not "
                                   f"{REVIEWED!r}, {PREFILL!r} or '{REVIEWED}: AU1, AU12'")
        coded[np.ix_(times.frames_within(start, end), chosen)] = True
    return coded
