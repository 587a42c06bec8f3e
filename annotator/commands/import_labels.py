"""`au-annotator import-labels`: an Aff-Wild2 label folder becomes one coder's labels."""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.label_import import import_label_folder
from db import DATABASE_OPTION_HELP, database_url, open_database

NAME = "import-labels"
HELP = "import an Aff-Wild2 label folder as one coder's labels (all files or none)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="Aff-Wild2 label folder")
    parser.add_argument("--coder", required=True, metavar="NAME", help="store the labels as")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run(args: argparse.Namespace) -> int:
    # one transaction: any bad file rolls back the whole import
    with open_database(database_url(args.db)).begin() as session:
        imported = import_label_folder(session, args.folder, args.coder)
    videos = len({item.video_id for item in imported})
    print(f"imported {len(imported)} label files for {videos} videos as coder {args.coder}")
    return 0
