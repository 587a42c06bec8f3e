"""The lock file pins every dependency with hashes, within pyproject's ranges, and is what runs."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes) from requirements.lock."""
    pins: dict[str, tuple[Version, int]] = {}
    name = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if pin:
            name = canonicalize_name(pin.group(1))
            pins[name] = (Version(pin.group(2)), 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in
            project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_dependency_is_pinned_with_a_hash_inside_its_declared_range():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock (run scripts/lock)"
        version, hashes = pins[name]
        assert hashes > 0, f"{name} has no hash in requirements.lock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} in the lock is outside pyproject's {requirement.specifier}")
    assert all(hashes > 0 for _, hashes in pins.values())


def test_floors_with_known_holes_are_raised():
    floors = {canonicalize_name(r.name): r.specifier for r in declared()}
    assert not floors["torch"].contains("2.5.1")  # torch.load weights_only bypass
    assert not floors["face-alignment"].contains("1.4.1")


def test_the_environment_running_the_tests_is_the_locked_one():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        installed = Version(metadata.version(name))
        locked_version = pins[name][0]
        assert installed == locked_version, f"{name} {installed} installed, lock: {locked_version}"
