"""The registry of landmark backends: every backend the product offers, by name, with what it
is, the devices it runs on and how to make one. `make_backend`
(annotator.processing.extraction) loads from here and the commands' --backend choices are its
names; a new backend is one module beside the others (annotator.processing.landmarks states the
contract) and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annotator.processing.landmarks import LandmarkBackend


def _dlib(device: str) -> LandmarkBackend:
    from annotator.processing.landmarks.dlib_backend import DlibBackend

    return DlibBackend()


def _fan(device: str) -> LandmarkBackend:
    from annotator.processing.landmarks.fan_backend import FanBackend

    return FanBackend(device=device)


@dataclass(frozen=True)
class RegisteredBackend:
    """One landmark backend as the product offers it."""

    name: str
    description: str  # one line, in a coder's words
    devices: tuple[str, ...]  # where it runs, best first ("cpu", "cuda")
    factory: Callable[[str], LandmarkBackend]  # device -> a ready backend (loads its models)


LANDMARK_BACKENDS: dict[str, RegisteredBackend] = {
    entry.name: entry for entry in (
        RegisteredBackend("dlib", "dlib HOG detector + 68-point predictor, offline",
                          ("cpu",), _dlib),
        RegisteredBackend("fan", "face-alignment (S3FD + FAN), batched; wants a GPU",
                          ("cuda", "cpu"), _fan),
    )
}
BACKENDS = tuple(LANDMARK_BACKENDS)  # the names, as the command line offers them
DEFAULT_BACKEND = "dlib"


class UnknownBackend(ValueError):
    """A landmark backend name that is not registered; the message lists those that are."""


def registered_backend(name: str) -> RegisteredBackend:
    """The registry entry of backend `name`; UnknownBackend (one line) for any other name."""
    if name not in LANDMARK_BACKENDS:
        raise UnknownBackend(f"unknown landmark backend {name!r}; registered: "
                             f"{', '.join(LANDMARK_BACKENDS)}")
    return LANDMARK_BACKENDS[name]


def backends_help() -> str:
    """The registered backends as a command's --backend help lists them."""
    return "; ".join(f"{entry.name}: {entry.description} (runs on {'/'.join(entry.devices)})"
                     for entry in LANDMARK_BACKENDS.values())
