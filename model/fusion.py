"""The cold-start pre-fill: landmark geometry and expression evidence fused per AU.

Geometry (model.baseline) sees where landmarks move; it cannot see a cheek rise or a frown a
person holds through the whole video, and an open mouth widens the mouth as a smile does. The
expression network (model.expression) sees the whole face's appearance. Each AU takes both:

1. Per-person calibration. The video's own calm frames (the `calm_share` of face frames the
   expression network finds most neutral) stand for the person's neutral face, as OpenFace
   subtracts a person's running median. An expression's calibrated strength is how far its
   probability rises above its median over those frames:
       strength_e = clip((p_e − rest_e) / (1 − rest_e), 0, 1),   rest_e ≤ `max_rest`
   (the cap keeps a video that never rests, such as a whole clip of laughter, from cancelling
   its own expression).
2. Prototype table (EMFACS, Friesen & Ekman): how strongly each expression implies each AU.
   An AU's expression support is the strongest prototype that implies it:
       support = max_e  table[e][AU] · strength_e      (0 … 1)
3. Fusion in log-odds. Geometry's own logit, capped at ±`geometry_cap` so that no landmark
   measure is ever certain, plus the support's pull:
       logit = clip(logit(p_geometry), ±cap) + weight_AU · (support − neutral_AU)
   `neutral_AU` is the support at which the expression is silent about the AU. For AUs the
   expression network sees (AU4, AU6, AU12, AU15, ...) it is above 0, so a face the network
   calls plainly not happy pulls AU12 down: an open mouth without a smile (talking, singing)
   is AU25 and not AU12. For AU25 (lips apart, measured absolutely by geometry) it is 0: the
   expression can only add evidence, never remove a gap the landmarks measure.

Everything here is a setting (FusionSettings): a researcher reads the table in
docs/first_guess.md and changes it through a TOML file (FusionSettings.from_toml), recorded
with each prediction run.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model.errors import InputError
from model.expression import EXPRESSIONS

NEUTRAL = EXPRESSIONS.index("neutral")

# EMFACS prototypes among the AUs we code (abaw2020 and abaw12). Weights below 1 mark a weaker
# or less specific link: fear's AU4 pulls against its AU1 + AU2 (and FER2013's "fear" often
# means wide eyes), a laugh parts the lips but a closed-mouth smile does not, disgust's AU15 is
# optional in its prototype.
PROTOTYPES: dict[str, dict[str, float]] = {
    "happy": {"AU6": 1.0, "AU12": 1.0, "AU25": 0.5},
    "sad": {"AU1": 0.6, "AU4": 1.0, "AU15": 1.0},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU25": 1.0, "AU26": 1.0},
    "fear": {"AU1": 1.0, "AU2": 1.0, "AU4": 0.5, "AU20": 1.0, "AU25": 1.0, "AU26": 0.5},
    "angry": {"AU4": 1.0, "AU7": 1.0, "AU23": 1.0, "AU24": 0.5},
    "disgust": {"AU10": 1.0, "AU15": 0.5, "AU9": 1.0},
}


@dataclass(frozen=True)
class AUFusion:
    weight: float  # log-odds added per unit of expression support
    neutral: float  # support at which the expression says nothing about the AU


# AUs the expression network reads from the face's appearance get a two-sided pull; AUs whose
# geometry is direct and absolute (lips apart) only a one-sided one.
DEFAULT_AU_FUSION: dict[str, AUFusion] = {
    "AU1": AUFusion(6.0, 0.3), "AU2": AUFusion(6.0, 0.3), "AU4": AUFusion(10.0, 0.35),
    "AU6": AUFusion(10.0, 0.35), "AU7": AUFusion(6.0, 0.3), "AU9": AUFusion(6.0, 0.3),
    "AU10": AUFusion(6.0, 0.3), "AU12": AUFusion(10.0, 0.35), "AU15": AUFusion(10.0, 0.35),
    "AU20": AUFusion(6.0, 0.3), "AU23": AUFusion(4.0, 0.2), "AU24": AUFusion(4.0, 0.2),
    "AU25": AUFusion(3.0, 0.0), "AU26": AUFusion(3.0, 0.0),
}


@dataclass(frozen=True)
class FusionSettings:
    prototypes: dict[str, dict[str, float]] = field(default_factory=lambda: {
        expression: dict(row) for expression, row in PROTOTYPES.items()})
    aus: dict[str, AUFusion] = field(default_factory=lambda: dict(DEFAULT_AU_FUSION))
    calm_share: float = 0.2  # of face frames, the most neutral, taken as the person's rest
    max_rest: float = 0.5  # no expression's resting level counts above this
    geometry_cap: float = 4.0  # |log-odds| geometry can contribute at most

    def __post_init__(self) -> None:
        unknown = set(self.prototypes) - set(EXPRESSIONS)
        if unknown:
            raise ValueError(f"unknown expressions {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(EXPRESSIONS)}")
        if not 0 < self.calm_share <= 1:
            raise ValueError(f"calm_share must be in (0, 1], not {self.calm_share}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FusionSettings:
        values = dict(values)
        defaults = cls()
        if "aus" in values:
            values["aus"] = {**defaults.aus, **{au: AUFusion(**row) if isinstance(row, dict)
                                                else row for au, row in values["aus"].items()}}
        if "prototypes" in values:
            values["prototypes"] = {**defaults.prototypes, **values["prototypes"]}
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> FusionSettings:
        """Settings from a TOML file; keys left out keep their defaults. Tables `prototypes.<
        expression>` (AU = weight) replace that expression's row; `aus.<AU>` = {weight, neutral}."""
        path = Path(path)
        try:
            return cls.from_dict(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise InputError(path, f"cannot read fusion settings: {error}") from None
        except (TypeError, ValueError) as error:
            raise InputError(path, f"bad fusion settings: {error}") from None


def calibrated_strengths(expression: np.ndarray, face: np.ndarray,
                         settings: FusionSettings) -> np.ndarray:
    """(T, 7) calibrated strength of each expression against the person's calm frames (NaN rows
    where no face; neutral's column is 0)."""
    face = np.asarray(face, bool) & ~np.isnan(expression).any(axis=1)
    strengths = np.full(expression.shape, np.nan, np.float32)
    if not face.any():
        return strengths
    rows = np.flatnonzero(face)
    calm_count = max(1, int(round(settings.calm_share * len(rows))))
    calm = rows[np.argsort(-expression[rows, NEUTRAL], kind="stable")[:calm_count]]
    rest = np.minimum(np.median(expression[calm], axis=0), settings.max_rest)  # (7,)
    values = (expression[rows] - rest) / (1.0 - rest)
    strengths[rows] = np.clip(values, 0.0, 1.0)
    strengths[rows, NEUTRAL] = 0.0
    return strengths


def expression_support(strengths: np.ndarray, aus: tuple[str, ...],
                       settings: FusionSettings) -> np.ndarray:
    """(T, K) support for each AU: the strongest prototype implying it (0 where none does)."""
    table = np.zeros((len(EXPRESSIONS), len(aus)), np.float32)  # (7, K)
    for expression, row in settings.prototypes.items():
        for au, weight in row.items():
            if au in aus:
                table[EXPRESSIONS.index(expression), aus.index(au)] = weight
    return (strengths[:, :, None] * table[None]).max(axis=1)  # (T, K)


def fuse(geometry: np.ndarray, expression: np.ndarray, face: np.ndarray,
         aus: tuple[str, ...], settings: FusionSettings | None = None) -> np.ndarray:
    """(T, K) fused probabilities from geometry's (T, K) and the expression network's (T, 7)
    probabilities; NaN rows stay NaN."""
    settings = settings or FusionSettings()
    support = expression_support(calibrated_strengths(expression, face, settings), aus,
                                 settings)
    clipped = np.clip(geometry.astype(np.float64), 1e-6, 1 - 1e-6)
    logit = np.clip(np.log(clipped / (1 - clipped)), -settings.geometry_cap,
                    settings.geometry_cap)
    weight = np.array([settings.aus[au].weight for au in aus])
    neutral = np.array([settings.aus[au].neutral for au in aus])
    fused = 1.0 / (1.0 + np.exp(-(logit + weight * (support - neutral))))
    return np.where(np.isnan(geometry), np.nan, fused).astype(np.float32)


SETTINGS_VARIABLE = "AU_ANNOTATOR_FUSION"  # a TOML file of FusionSettings, for every process


def fusion_settings() -> FusionSettings:
    """The settings in force: the TOML file $AU_ANNOTATOR_FUSION names, else the defaults."""
    path = os.environ.get(SETTINGS_VARIABLE)
    return FusionSettings.from_toml(path) if path else FusionSettings()
