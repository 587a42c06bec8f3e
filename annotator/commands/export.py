"""`au-annotator export`: write effective labels as Aff-Wild2 label files or OpenFace-style CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annotator.errors import InputError
from annotator.export import FORMATS, UNREVIEWED, ExportOptions, export_video
from db import (
    DATABASE_OPTION_HELP,
    database_url,
    get_video,
    list_videos,
    open_database,
    videos_named,
)
from model.constants import AU_SETS

NAME = "export"
HELP = "write labels as Aff-Wild2 label files or OpenFace-style CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--video",
        action="append",
        metavar="ID",
        help="video id or file name (repeatable); default: all videos",
    )
    which.add_argument("--all", action="store_true", help="every registered video (default)")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--coder",
        metavar="NAME",
        help="whose labels (default: the video's only coder, else the model's pre-fill)",
    )
    parser.add_argument(
        "--unreviewed",
        choices=UNREVIEWED,
        default="prefill",
        help="frames the coder has not reviewed: the model's pre-fill or -1 (default: prefill)",
    )
    parser.add_argument("--au-set", choices=tuple(AU_SETS), help="default: the model run's")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run(args: argparse.Namespace) -> int:
    options = ExportOptions(args.format, args.coder, args.unreviewed, args.au_set)
    with open_database(database_url(args.db)).begin() as session:
        videos = _chosen_videos(session, args.video)
        if not videos:
            print("au-annotator export: no videos registered yet", file=sys.stderr)
            return 1
        for video in videos:
            for path in export_video(session, video, args.out, options):
                print(path)
    return 0


def _chosen_videos(session, chosen: list[str] | None):
    if not chosen:
        return list_videos(session)
    videos = []
    for value in chosen:
        found = (
            [get_video(session, int(value))] if value.isdigit() else videos_named(session, value)
        )
        found = [v for v in found if v is not None]
        if not found:
            raise InputError(value, "no registered video with this id or name")
        videos.extend(found)
    return videos
