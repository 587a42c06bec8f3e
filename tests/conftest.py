"""Shared test setup: real clips, the two-person clip built once, a real browser, a private
cache folder for the whole run, and (when the `postgresql` Debian package is installed) a
throwaway PostgreSQL server for the whole session. The helpers behind them are in
tests/helpers/ (importable as `helpers` from every test folder).

The cache folder (and a default database inside it) is set in the environment, so CLI
subprocesses share it too: a clip's landmarks are found once per test run, never in the user's
own cache, and commands run without --db never touch the user's own database or uploads.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from helpers import clip_data
from helpers.browser import launched_chromium
from helpers.videos import two_person_video
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parent.parent
SINGLE_FACE = ROOT / "tests" / "data" / "single_face.mp4"
NO_FACE = ROOT / "tests" / "data" / "no_face.mp4"
DEMO = ROOT / "annotator" / "demo" / "WolfgangLanger_Pexels.mp4"

# face-alignment's own heatmap decoding (its stock path, the reference the fan tests compare
# with) is numba-compiled on its first call: about 10 s of this CPU for each test process that
# calls it. The tests run the same library code as the Python it is written in; numba reads
# this when first imported (face-alignment is imported only by the fan backend).
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

# Test processes started by pytest-xdist (scripts/test) share the cache folder of the run that
# started them, so a clip's landmarks are still found once per run; the default database and
# the uploads folder stay each process's own.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    # Several test processes share the cores: each (and the servers and commands it starts)
    # runs torch and OpenCV on one thread, or their thread pools crowd each other out (a
    # fine-tuning test took 50 s beside another worker, against 14 s alone).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
_SHARED = "AU_ANNOTATOR_TEST_RUN_CACHE"
if _WORKER and os.environ.get(_SHARED):
    _cache = Path(os.environ[_SHARED])
else:
    _cache = Path(tempfile.mkdtemp(prefix="au-annotator-test-cache-"))


def pytest_configure(config):
    os.environ[_SHARED] = str(_cache)
    os.environ["AU_ANNOTATOR_CACHE"] = str(_cache)
    own = _cache / f"run-{_WORKER or 'main'}"
    own.mkdir(parents=True, exist_ok=True)
    # Commands run without --db use this file, never the user's own database.
    os.environ["AU_ANNOTATOR_DB"] = str(own / "default-database.sqlite3")
    os.environ["AU_ANNOTATOR_UPLOADS"] = str(own / "uploads")


def pytest_unconfigure(config):
    if not _WORKER:  # the run that made the folder removes it, after its workers have ended
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


@pytest.fixture(scope="session")
def two_person_clip(tmp_path_factory, single_face, demo_video) -> Path:
    """The two-person clip (helpers.videos.two_person_video), written once per test session;
    copy it to put it in a folder of your own."""
    folder = tmp_path_factory.mktemp("two-person")
    return two_person_video(folder / "interview.mp4", single_face, demo_video)


@pytest.fixture(scope="session")
def single_face_features(single_face):
    """single_face.mp4's features (model.features.VideoFeatures): 72 frames, one face."""
    return clip_data.clip_features(single_face)


@pytest.fixture(scope="session")
def no_face_features(no_face):
    """no_face.mp4's features: 95 frames without a face."""
    return clip_data.clip_features(no_face)


@pytest.fixture(scope="session")
def demo_features(demo_video):
    """The demo clip's features: 471 frames, crying then laughing."""
    return clip_data.clip_features(demo_video)


@pytest.fixture(scope="session")
def single_face_landmarks(single_face):
    """(RGB frames, (T, 68, 2) dlib landmarks, (T,) face found) of single_face.mp4."""
    return clip_data.clip_landmarks(single_face)


@pytest.fixture(scope="session")
def dlib_shape_model():
    """dlib's 68-point shape model file."""
    return clip_data.dlib_shape_model()


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium under Playwright for one test file; open tabs with
    helpers.browser.new_page (each in a fresh profile). Skips where either is missing."""
    with launched_chromium() as chromium:
        yield chromium


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgresql_url():
    """URL of a PostgreSQL server started for this test session (initdb in a temp folder)."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg (PostgreSQL driver) not installed")
    # initdb refuses to run as root: run the server as the `postgres` system user then
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="au-annotator-pg-"))
    data, log = root / "data", root / "server.log"
    if as_user:
        shutil.chown(root, "postgres")
    port = _free_port()
    try:
        subprocess.run(
            [
                *as_user,
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
        subprocess.run(
            [
                *as_user,
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {error.stderr.decode(errors='replace')}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def services(tmp_path):
    """The services object of a fresh SQLite database (what the page and the CLI build once)."""
    from annotator.services import Services

    return Services.open(f"sqlite:///{tmp_path / 'annotations.sqlite3'}")


@pytest.fixture
def postgresql_database(postgresql_url) -> str:
    """URL of a fresh, empty database on the session's PostgreSQL server."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    server = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    server.dispose()
    return postgresql_url.rsplit("/", 1)[0] + f"/{name}"
