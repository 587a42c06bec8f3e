"""`au-annotator export` and `import-labels`: label files out of and into the database.

export: effective labels as Aff-Wild2 label files, OpenFace CSV, ELAN files or BORIS projects.
import-labels: a folder of Aff-Wild2 label files and ELAN files becomes one coder's labels, all
files or none (annotator.labelfiles.label_io, annotator.labelfiles.elan).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from annotator.commands.as_coder import SignedIn, add_as_argument, signed_in_as
from annotator.labelfiles.elan import parse_tier_map
from annotator.labelfiles.label_io import (
    FORMATS,
    MINUS_ONE,
    UNREVIEWED,
    ExportOptions,
    export_video,
    import_label_folder,
)
from annotator.services.lab_projects import (
    project_exports,
    refuse_unless_visible,
    visible_video_ids,
)
from db import (
    DATABASE_OPTION_HELP,
    list_videos,
    videos_matching,
)
from model.au_sets import AU_SETS
from model.errors import InputError


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--video",
        action="append",
        metavar="ID|NAME|FILE|PATH",
        help="video id, name (clip), file name (clip.mp4) or path (repeatable); default: all "
             "videos",
    )
    which.add_argument("--all", action="store_true", help="every registered video (default)")
    which.add_argument("--project", metavar="NAME",
                       help="the videos of a project, each with its primary coder's labels (or "
                            "--coder's, for the videos assigned to them)")
    parser.add_argument("--done", action="store_true",
                        help="with --project: only the videos marked done")
    parser.add_argument("--format", choices=FORMATS, required=True,
                        help="affwild2: <video>.txt; openface-csv: <video>.csv with landmarks "
                             "(needs the video file); elan: <video>.eaf; boris: <video>.boris "
                             "project (see README, Label formats)")
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
    parser.add_argument("--subject", type=int, metavar="N",
                        help="only subject N (person N of the video, numbered by frames seen); "
                             "default: every subject with a pre-fill or the coder's labels, one "
                             "file each (NAME_left / NAME_right for two people)")
    add_as_argument(parser)
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_export(args: argparse.Namespace) -> int:
    if args.done and args.project is None:
        raise InputError("--done", "only goes with --project NAME")
    options = ExportOptions(args.format, args.coder, args.unreviewed, args.au_set, args.subject)
    viewer = signed_in_as(args)
    with args.services.store.write() as session:
        if args.project is not None:
            chosen = project_exports(session, args.project, args.coder, args.done)
        else:
            chosen = [(video, args.coder)
                      for video in _chosen_videos(session, args.video, viewer)]
        if viewer is not None:  # every video checked before any file is written
            for video, _ in chosen:
                refuse_unless_visible(session, video, viewer.name, viewer.admin)
        if not chosen:
            print("au-annotator export: no videos to export"
                  + (f" in project {args.project}" if args.project else " registered yet"),
                  file=sys.stderr)
            return 1
        written: set = set()  # two videos of the same name: the second gets its id
        for video, coder in chosen:
            for path in export_video(session, video, args.out, replace(options, coder=coder),
                                     written):
                print(path)
    return 0


def _chosen_videos(session, chosen: list[str] | None, viewer: SignedIn | None):
    """The videos named (every video when none is, or every video `viewer` may see)."""
    if not chosen:
        visible = None if viewer is None else visible_video_ids(session, viewer.name,
                                                                viewer.admin)
        return [v for v in list_videos(session) if visible is None or v.id in visible]
    videos = []
    for value in chosen:
        found = videos_matching(session, value)
        if not found:
            raise InputError(value, "no registered video with this id, name, file name or "
                                    "path")
        videos.extend(found)
    return videos


def add_import_labels_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR",
                        help="folder of Aff-Wild2 label files (.txt) and ELAN files (.eaf)")
    parser.add_argument("--coder", required=True, metavar="NAME", help="store the labels as")
    parser.add_argument("--minus-one", choices=MINUS_ONE, default="unreviewed",
                        help="what a -1 in the files becomes: left unreviewed, so the pre-fill "
                             "shows (default), or the coder's 'not codable'")
    parser.add_argument("--tier-map", action="append", default=[], metavar="MAP",
                        help="ELAN tiers named other than AU12, AU 12, AU12_c...: "
                             "'Smile=AU12,Brows up=AU1', or @FILE with one NAME=AU per line "
                             "(repeatable; tier names are matched ignoring case)")
    parser.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)


def run_import_labels(args: argparse.Namespace) -> int:
    tier_map = parse_tier_map(args.tier_map)
    # one transaction: any bad file rolls back the whole import
    with args.services.store.write() as session:
        imported = import_label_folder(session, args.folder, args.coder, args.minus_one,
                                       tier_map)
    for item in imported:
        for tier in item.tiers:
            print(f"{item.path.name}: tier {tier.tier!r} → {tier.use}: "
                  f"{tier.annotations} annotations, {tier.frames} frames")
    videos = len({item.video_id for item in imported})
    unchanged = sum(item.unchanged for item in imported)
    print(f"imported {len(imported)} label files for {videos} videos as coder {args.coder}"
          + (f" ({unchanged} unchanged: already stored)" if unchanged else ""))
    return 0
