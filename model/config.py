"""Every setting of a training run in one TOML file: the network, the features and the training
loop, one section per config dataclass (each stays in its own module). For example, the seed's
reference-code options:

    au_set = "abaw2020"        # optional: else from the label folders found

    [network]                  # model.network.NetworkConfig
    hidden_size = 96
    fusion = "aspect"          # the 64-entry aspect table (`aspects = 64`)

    [features]                 # model.features.FeatureConfig
    motion_offset = 2          # L(t+2) − L(t−2)
    landmark_points = "no-jaw" # closest to their 73 of 106 points

    [training]                 # model.training.TrainingConfig
    hold_frames = 3
    tune_split = 0.2

Precedence, lowest first: built-in defaults, the file (`train --config FILE`), `--set
SECTION.KEY=VALUE`, the dedicated flags (`--epochs`, `--tune-split`...). A checkpoint holds the
whole setup, so `--config` also takes a checkpoint (or a training output folder) to repeat its
run. Settings training derives itself are never written: the network's AU set, crop size, input
channels, motion size and motion scale.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from model.au_sets import AU_SETS
from model.checkpoint import CHECKPOINT_NAME, CheckpointInfo, read_checkpoint
from model.errors import InputError
from model.features import FeatureConfig
from model.files import write_text_atomically
from model.network import NetworkConfig
from model.training import TrainingConfig

CONFIG_NAME = "config.toml"  # the setup a training run wrote, beside its checkpoint
SECTIONS = {"network": NetworkConfig, "features": FeatureConfig, "training": TrainingConfig}
_DERIVED = {"network": {"au_set", "crop_size", "in_channels", "motion_size", "motion_scale"}}


@dataclass(frozen=True)
class TrainingSetup:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    au_set: str | None = None  # None: from the label folders found


def settable(section: str) -> list[str]:
    """The keys a file or `--set` may give in `section`, in the dataclass's order."""
    return [f.name for f in fields(SECTIONS[section]) if f.name not in _DERIVED.get(section, ())]


def read_setup(path: str | Path) -> TrainingSetup:
    """The setup in a TOML file, or the one a checkpoint (or training output folder) holds."""
    path = Path(path)
    if path.is_dir() or path.suffix == Path(CHECKPOINT_NAME).suffix:
        return setup_of_checkpoint(read_checkpoint(path)[0])
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(path, f"cannot read settings file ({error})") from None
    settings = {}
    for key, value in document.items():
        if isinstance(value, dict):
            settings |= {f"{key}.{name}": inner for name, inner in value.items()}
        else:
            settings[key] = value
    return apply_settings(TrainingSetup(), settings, path)


def setup_of_checkpoint(info: CheckpointInfo) -> TrainingSetup:
    """The setup a checkpoint was trained with (settings it predates keep their defaults)."""
    training = {f"training.{key}": value for key, value in info.training.items()}
    setup = TrainingSetup(network=info.config, features=info.features, au_set=info.au_set)
    return apply_settings(setup, training, "checkpoint")


def parse_assignment(text: str) -> tuple[str, object]:
    """`section.key=value` → (key, value): the value read as TOML (3, 0.2, true, [8, 16]), or
    as a plain string when it is not TOML (`network.fusion=aspect`)."""
    key, equals, value = text.partition("=")
    if not equals or "." not in key:
        raise InputError("--set", f"expected SECTION.KEY=VALUE (e.g. training.epochs=5), "
                                  f"not {text!r}")
    try:
        return key.strip(), tomllib.loads(f"value = {value.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return key.strip(), value.strip()


def apply_settings(setup: TrainingSetup, settings: dict[str, object],
                   source: str | Path) -> TrainingSetup:
    """`setup` with each "section.key" (or "au_set") set; a bad one is an InputError naming
    `source` (the file, "--set", "command line") and the setting."""
    changes: dict[str, dict] = {section: {} for section in SECTIONS}
    au_set = setup.au_set
    for key, value in settings.items():
        if key == "au_set":
            if value not in AU_SETS:
                raise InputError(source, f"au_set: {value!r} is not one of {', '.join(AU_SETS)}")
            au_set = str(value)
            continue
        section, _, name = key.partition(".")
        if section not in SECTIONS or name not in settable(section):
            known = ", ".join(f"{s}.{n}" for s in SECTIONS for n in settable(s))
            raise InputError(source, f"unknown setting {key!r}; known: au_set, {known}")
        current = getattr(getattr(setup, section), name)
        changes[section][name] = _typed(value, current, key, source)
    try:
        return TrainingSetup(**{section: replace(getattr(setup, section), **changes[section])
                                for section in SECTIONS}, au_set=au_set)
    except ValueError as error:
        raise InputError(source, str(error)) from None


def _typed(value: object, current: object, key: str, source: str | Path) -> object:
    """`value` as the type of the setting's current value; InputError when it cannot be."""
    if isinstance(current, tuple) and isinstance(value, list | tuple) and value:
        return tuple(_typed(item, current[0], key, source) for item in value)
    if isinstance(current, bool) and isinstance(value, bool):
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(current, float) and number:
        return float(value)
    if type(current) in (int, str) and type(value) is type(current):
        return value
    expected = {tuple: "a non-empty list", bool: "true or false", float: "a number",
                int: "an integer", str: "a string"}[type(current)]
    raise InputError(source, f"{key}: expected {expected}, not {value!r}")


def setup_toml(setup: TrainingSetup) -> str:
    """The setup as a TOML file `read_setup` reads back to the same setup."""
    lines = ["# au-annotator training settings (see model/config.py); every value is written"]
    if setup.au_set is not None:
        lines.append(f"au_set = {_toml_value(setup.au_set)}")
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        config = getattr(setup, section)
        lines += [f"{name} = {_toml_value(getattr(config, name))}" for name in settable(section)]
    return "\n".join(lines) + "\n"


def write_setup(path: str | Path, setup: TrainingSetup) -> Path:
    return write_text_atomically(path, setup_toml(setup))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
