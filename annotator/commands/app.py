"""`au-annotator app`: launch the Streamlit UI (`streamlit run streamlit_app.py`).

`streamlit_app.py` sits at the repository root, beside the `annotator` package: the project is
installed editable (`pip install -e .`, as scripts/setup does), so it is found from there.
Settings reach the app through the environment (see annotator.ui.settings).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from db import DATABASE_OPTION_HELP
from model.formats import InputError

APP_FILE = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)
    parser.add_argument("--port", type=int, default=8501, help="HTTP port (default: 8501)")
    parser.add_argument("--address", default="localhost",
                        help="address to listen on (default: localhost, this computer only; "
                             "0.0.0.0 serves coders on the network)")
    parser.add_argument("--videos", type=Path, metavar="DIR",
                        help="server folder whose videos open without uploading "
                             "(default: $AU_ANNOTATOR_VIDEO_DIR)")
    parser.add_argument("--max-upload-mb", type=int, metavar="MB",
                        help="largest upload in megabytes (default: $AU_ANNOTATOR_MAX_UPLOAD_MB, "
                             "else 2048)")


def streamlit_command(args: argparse.Namespace, headless: bool) -> tuple[list[str], dict]:
    """The `streamlit run` command line and environment for these options."""
    from annotator.ui.settings import DEFAULT_MAX_UPLOAD_MB
    from db import database_url

    env = dict(os.environ)
    env["AU_ANNOTATOR_DB"] = database_url(args.db)
    if args.videos is not None:
        if not args.videos.is_dir():
            raise InputError(args.videos, "no such folder (--videos needs a folder of videos)")
        env["AU_ANNOTATOR_VIDEO_DIR"] = str(args.videos.resolve())
    upload_mb = args.max_upload_mb or int(env.get("AU_ANNOTATOR_MAX_UPLOAD_MB",
                                                  DEFAULT_MAX_UPLOAD_MB))
    env["AU_ANNOTATOR_MAX_UPLOAD_MB"] = str(upload_mb)
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_FILE),
        "--server.port", str(args.port),
        # an explicit address also keeps Streamlit from looking up an external IP online
        "--server.address", args.address,
        "--server.maxUploadSize", str(upload_mb),  # the server's own cap on upload requests
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button: this is a local tool
        # no reloading on source changes: watching the project (and its .venv) costs CPU
        "--server.fileWatcherType", "none",
        "--server.headless", "true" if headless else "false",
    ]
    return command, env


def run_app(args: argparse.Namespace) -> int:
    if not APP_FILE.is_file():
        raise InputError(APP_FILE, "missing: install the project from its source folder with "
                                   "`pip install -e .` (the app file lives in the repository)")
    # without a display nobody could see a browser window; print the address instead
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    command, env = streamlit_command(args, headless)
    print(f"au-annotator app: http://{args.address}:{args.port}  "
          f"(database: {env['AU_ANNOTATOR_DB']})", flush=True)
    return subprocess.call(command, env=env)
