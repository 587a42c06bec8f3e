"""`au-annotator app`: launch the Streamlit UI (`streamlit run streamlit_server.py`: the page
`streamlit_app.py` and the player's video files on one server).

Both files sit at the repository root, beside the `annotator` package: the project is
installed editable (`pip install -e .`, as scripts/setup does), so it is found from there.
Settings reach the app through the environment (see annotator.ui.settings).

The command becomes the Streamlit server (exec), so stopping it (Ctrl-C, SIGTERM) stops the
server. Serving beyond this computer needs sign-in: with an `--address` other than localhost
the command refuses to start unless the database holds an account (`au-annotator coder add`)
or Streamlit's OIDC login is configured; the server answers only requests whose Host header
is the served address, localhost, 127.0.0.1 or an `--allowed-host` (no DNS rebinding).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from annotator.services.context import Services
from db import DATABASE_OPTION_HELP
from model.errors import InputError

APP_FILE = Path(__file__).resolve().parents[2] / "streamlit_app.py"
SERVER_FILE = APP_FILE.with_name("streamlit_server.py")  # the page plus the player's files


LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)
    parser.add_argument("--port", type=int, default=8501, help="HTTP port (default: 8501)")
    parser.add_argument("--address", default="localhost",
                        help="address to listen on (default: localhost, this computer only; "
                             "another address serves coders on the network and needs "
                             "accounts: au-annotator coder add)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name coders reach the app by, besides the address "
                             "(repeatable; other Host headers are refused)")
    parser.add_argument("--videos", type=Path, metavar="DIR",
                        help="server folder whose videos open without uploading "
                             "(default: $AU_ANNOTATOR_VIDEO_DIR)")
    parser.add_argument("--max-upload-mb", type=int, metavar="MB",
                        help="largest upload in megabytes (default: $AU_ANNOTATOR_MAX_UPLOAD_MB, "
                             "else 2048)")
    parser.add_argument("--sign-in-hours", type=float, metavar="H",
                        help="how long a sign-in lasts through reloads and new tabs (default: "
                             "$AU_ANNOTATOR_SIGN_IN_HOURS, else 9, a working day)")


def streamlit_command(args: argparse.Namespace, headless: bool) -> tuple[list[str], dict]:
    """The `streamlit run` command line and environment for these options."""
    from annotator.ui.settings import DEFAULT_MAX_UPLOAD_MB, secrets_files
    from db import database_url

    env = dict(os.environ)
    env["AU_ANNOTATOR_DB"] = database_url(args.db)
    env["AU_ANNOTATOR_ADDRESS"] = args.address
    if args.videos is not None:
        if not args.videos.is_dir():
            raise InputError(args.videos, "no such folder (--videos needs a folder of videos)")
        env["AU_ANNOTATOR_VIDEO_DIR"] = str(args.videos.resolve())
    upload_mb = args.max_upload_mb or int(env.get("AU_ANNOTATOR_MAX_UPLOAD_MB",
                                                  DEFAULT_MAX_UPLOAD_MB))
    env["AU_ANNOTATOR_MAX_UPLOAD_MB"] = str(upload_mb)
    if args.sign_in_hours is not None:
        if args.sign_in_hours <= 0:
            raise InputError("--sign-in-hours", "must be a positive number of hours")
        env["AU_ANNOTATOR_SIGN_IN_HOURS"] = str(args.sign_in_hours)
    hosts = dict.fromkeys([*LOCAL_ADDRESSES[:2], args.address, *args.allowed_host])
    hosts.pop("0.0.0.0", None)  # not a name a browser sends; name the host with --allowed-host
    command = [
        sys.executable, "-m", "streamlit", "run", str(SERVER_FILE),
        "--server.port", str(args.port),
        # an explicit address also keeps Streamlit from looking up an external IP online
        "--server.address", args.address,
        *(flag for host in hosts for flag in ("--server.allowedHosts", host)),
        # the files the sign-in check read, whatever folder the app is started from
        *(flag for file in secrets_files(APP_FILE.parent)
          for flag in ("--secrets.files", str(file))),
        "--server.maxUploadSize", str(upload_mb),  # the server's own cap on upload requests
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button: this is a local tool
        # no reloading on source changes: watching the project (and its .venv) costs CPU
        "--server.fileWatcherType", "none",
        "--server.headless", "true" if headless else "false",
    ]
    return command, env


def sign_in_refusal(address: str, services: Services) -> str | None:
    """Why the app may not serve `address`, or None: beyond localhost, coders must sign in."""
    if address in LOCAL_ADDRESSES:
        return None
    from annotator.ui.settings import oidc_configured
    from db import accounts_exist

    with services.store.read() as session:
        if accounts_exist(session) or oidc_configured(APP_FILE.parent):
            return None
    return (f"serving on {address} needs sign-in, and this database has no account: add one "
            "with `au-annotator coder add NAME --admin` (or configure Streamlit's OIDC "
            "login with an allow-list), or serve on localhost")


def run_app(args: argparse.Namespace) -> int:
    from db import printable_url

    if not APP_FILE.is_file():
        raise InputError(APP_FILE, "missing: install the project from its source folder with "
                                   "`pip install -e .` (the app file lives in the repository)")
    # without a display nobody could see a browser window; print the address instead
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    command, env = streamlit_command(args, headless)
    refusal = sign_in_refusal(args.address, args.services)
    if refusal:
        print(f"au-annotator app: error: {refusal}", file=sys.stderr)
        return 2
    print(f"au-annotator app: http://{args.address}:{args.port}  "
          f"(database: {printable_url(env['AU_ANNOTATOR_DB'])})", flush=True)
    os.execve(sys.executable, command, env)  # the server takes this process's place
