"""App settings from the environment (`au-annotator app` sets them from its options), and where
videos come from: the demo clip, the server folder, uploads kept on the server
(annotator.services.uploads keeps them).

AU_ANNOTATOR_DB           database URL or SQLite file (db.database_url's default otherwise)
AU_ANNOTATOR_MAX_UPLOAD_MB  largest upload in megabytes (default 2048 = 2 GB)
AU_ANNOTATOR_VIDEO_DIR    a folder on the server whose videos can be opened without uploading
AU_ANNOTATOR_UPLOADS      where uploaded videos are kept (default: `uploads` in the data folder)
AU_ANNOTATOR_SIGN_IN_HOURS  how long a sign-in lasts in the browser (default 9: a working day)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from annotator import DEMO_VIDEO
from annotator.services.context import Services
from db import database_url
from model.files import VIDEO_EXTENSIONS

DEFAULT_MAX_UPLOAD_MB = 2048
DEFAULT_SIGN_IN_HOURS = 9.0


@dataclass(frozen=True)
class AppSettings:
    services: Services  # the store of the app's database, opened once per server
    max_upload_mb: int
    video_folder: Path | None
    upload_folder: Path
    sign_in_hours: float = DEFAULT_SIGN_IN_HOURS
    demo_video: Path = DEMO_VIDEO


def app_settings() -> AppSettings:
    folder = os.environ.get("AU_ANNOTATOR_VIDEO_DIR")
    uploads = os.environ.get("AU_ANNOTATOR_UPLOADS")
    return AppSettings(
        services=Services.open(database_url()),
        max_upload_mb=int(os.environ.get("AU_ANNOTATOR_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)),
        video_folder=Path(folder).expanduser() if folder else None,
        upload_folder=Path(uploads).expanduser()
        if uploads
        else Path(platformdirs.user_data_dir("au-annotator")) / "uploads",
        sign_in_hours=float(os.environ.get("AU_ANNOTATOR_SIGN_IN_HOURS", DEFAULT_SIGN_IN_HOURS)),
    )


def secrets_files(app_folder: Path) -> list[Path]:
    """The secrets files the app reads (`au-annotator app` hands them to Streamlit, so the
    sign-in check and the page read the same ones): the user's, then the app's own."""
    return [Path.home() / ".streamlit" / "secrets.toml", app_folder / ".streamlit" / "secrets.toml"]


def oidc_configured(app_folder: Path) -> bool:
    """Streamlit's OIDC login is set up: an `[auth]` section in one of the secrets files."""
    for file in secrets_files(app_folder):
        try:
            if "auth" in tomllib.loads(file.read_text(encoding="utf-8")):
                return True
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    return False


def server_videos(folder: Path | None) -> list[Path]:
    """Video files in the server folder (and its subfolders), by name."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()),
        key=lambda p: str(p.relative_to(folder)).lower(),
    )
