"""Shared test setup: real clips, and a private cache folder for the whole run.

The cache folder is set in the environment, so CLI subprocesses share it too: a clip's
landmarks are found once per test run, never in the user's own cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SINGLE_FACE = ROOT / "tests" / "data" / "single_face.mp4"
NO_FACE = ROOT / "tests" / "data" / "no_face.mp4"
DEMO = ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"

_cache = Path(tempfile.mkdtemp(prefix="au-annotator-test-cache-"))


def pytest_configure(config):
    os.environ["AU_ANNOTATOR_CACHE"] = str(_cache)


def pytest_unconfigure(config):
    shutil.rmtree(_cache, ignore_errors=True)


@pytest.fixture(scope="session")
def single_face() -> Path:
    return SINGLE_FACE


@pytest.fixture(scope="session")
def no_face() -> Path:
    return NO_FACE


@pytest.fixture(scope="session")
def demo_video() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def eye_labels() -> Path:
    """Folder of label files judged by eye for the real clips (see its README.md)."""
    return ROOT / "tests" / "data" / "eye_labels"
