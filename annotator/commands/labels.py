"""`au-annotator export` and `import-labels`: label files out of and into the database.

export: effective labels as Aff-Wild2 label files or OpenFace-style CSV. import-labels: an
Aff-Wild2 label folder becomes one coder's labels, all files or none (annotator.label_io).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annotator.label_io import (
    FORMATS,
    MINUS_ONE,
    UNREVIEWED,
    ExportOptions,
    export_video,
    import_label_folder,
)
from db import (
    DATABASE_OPTION_HELP,
    database_url,
    get_video,
    list_videos,
    open_database,
    videos_named,
)
from model.formats import AU_SETS, InputError


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
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


def run_export(args: argparse.Namespace) -> int:
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


def add_import_labels_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="Aff-Wild2 label folder")
    parser.add_argument("--coder", required=True, metavar="NAME", help="store the labels as")
    parser.add_argument("--minus-one", choices=MINUS_ONE, default="unreviewed",
                        help="what a -1 in the files becomes: left unreviewed, so the pre-fill "
                             "shows (default), or the coder's 'not codable'")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_import_labels(args: argparse.Namespace) -> int:
    # one transaction: any bad file rolls back the whole import
    with open_database(database_url(args.db)).begin() as session:
        imported = import_label_folder(session, args.folder, args.coder, args.minus_one)
    videos = len({item.video_id for item in imported})
    unchanged = sum(item.unchanged for item in imported)
    print(f"imported {len(imported)} label files for {videos} videos as coder {args.coder}"
          + (f" ({unchanged} unchanged: already stored)" if unchanged else ""))
    return 0
