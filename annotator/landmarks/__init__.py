"""Face landmark backends behind one contract (see base.py): `dlib` (CPU default) and `fan`."""

from __future__ import annotations

from annotator.landmarks.base import FaceResult, LandmarkBackend, LandmarkTable

BACKENDS = ("dlib", "fan")

__all__ = ["BACKENDS", "FaceResult", "LandmarkBackend", "LandmarkTable", "make_backend"]


def make_backend(name: str = "dlib", device: str = "cpu") -> LandmarkBackend:
    """A ready landmark backend by name; `fan` loads face-alignment's networks on `device`."""
    if name == "dlib":
        from annotator.landmarks.dlib_backend import DlibBackend

        return DlibBackend()
    if name == "fan":
        from annotator.landmarks.fan_backend import FanBackend

        return FanBackend(device=device)
    raise ValueError(f"unknown landmark backend {name!r}; choose one of {', '.join(BACKENDS)}")
