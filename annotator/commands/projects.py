"""`au-annotator project`: a lab's coding projects (annotator.services.lab_projects).

    project add NAME [--au-set abaw2020|abaw12]
    project add-videos NAME PATH...          files or folders; what is not processed yet is
                                             processed first, as `process` does
    project members NAME --add CODER... [--remove CODER] [--admin CODER]
    project list
    project assign NAME [--reliability SHARE]
    project progress NAME                    video, coder, role, share reviewed, done
    project done NAME --video V --coder C    refused while any face frame × AU is unreviewed
    project reopen NAME --video V --coder C --by ADMIN
    project report NAME --out DIR            reliability.csv, progress.csv, report.html
    project reassign NAME VIDEO --from CODER --to CODER
                                             give a coder's assignment of a video to another

`progress` and `report` take `--as CODER` (annotator.commands.as_coder): then only an admin of
the project or of the app may read them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import db
from annotator.commands.as_coder import add_as_argument, signed_in_as
from annotator.processing.corpus import CorpusOptions, available_cores, label_corpus
from annotator.services.context import Services
from annotator.services.lab_projects import (
    assign,
    mark_done,
    progress,
    reassign,
    reopen,
    require_admin,
)
from db import DATABASE_OPTION_HELP
from model.au_sets import AU_SETS, DEFAULT_AU_SET


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)
    named = argparse.ArgumentParser(add_help=False, parents=[database])
    named.add_argument("name", metavar="NAME", help="the project")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[named], help="make a project")
    add.add_argument("--au-set", choices=tuple(AU_SETS), default=DEFAULT_AU_SET)
    videos = actions.add_parser("add-videos", parents=[named],
                                help="bring videos in (processing those not processed yet)")
    videos.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="video files, and folders searched recursively for video files")
    videos.add_argument("--workers", type=int, metavar="N",
                        help="videos processed at once (default: one per core)")
    members = actions.add_parser("members", parents=[named],
                                 help="add, remove or promote members")
    members.add_argument("--add", action="append", default=[], metavar="CODER")
    members.add_argument("--remove", action="append", default=[], metavar="CODER")
    members.add_argument("--admin", action="append", default=[], metavar="CODER",
                         help="a member who assigns, reopens and reads reports")
    actions.add_parser("list", parents=[database], help="list projects")
    assigning = actions.add_parser("assign", parents=[named],
                                   help="give every unassigned video a coder")
    assigning.add_argument("--reliability", type=float, default=0.0, metavar="SHARE",
                           help="share of them (0..1) also coded by a second coder")
    add_as_argument(actions.add_parser("progress", parents=[named],
                                       help="share reviewed per video and coder"))
    for action, summary in (("done", "mark a coder's video done"),
                            ("reopen", "reopen a video marked done (admins)")):
        marking = actions.add_parser(action, parents=[named], help=summary)
        marking.add_argument("--video", required=True, metavar="ID|NAME")
        marking.add_argument("--coder", required=True, metavar="CODER")
        if action == "reopen":
            marking.add_argument("--by", required=True, metavar="ADMIN")
    report = actions.add_parser("report", parents=[named],
                                help="agreement per AU (CSV) and a progress figure (HTML)")
    report.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_as_argument(report)
    moving = actions.add_parser("reassign", parents=[named],
                                help="give a coder's assignment of a video to another coder")
    moving.add_argument("video", metavar="VIDEO", help="the video's id or name")
    moving.add_argument("--from", dest="old", required=True, metavar="CODER",
                        help="the coder who holds it now")
    moving.add_argument("--to", dest="new", required=True, metavar="CODER",
                        help="a coder of the project who does not code this video yet")


def run_project(args: argparse.Namespace) -> int:
    services = args.services
    if args.action == "add-videos":
        return _add_videos(services, args)
    viewer = signed_in_as(args) if args.action in ("progress", "report") else None
    with services.store.write() as session:
        if viewer is not None:
            require_admin(session, args.name, viewer.name, viewer.admin,
                          f"read its {args.action}")
        for line in ACTIONS[args.action](session, args):
            print(line)
    return 0


def _add(session, args):
    project = db.projects.add_project(session, args.name, args.au_set)
    yield f"project {project.name} added (AU set {project.au_set})"


def _add_videos(services: Services, args) -> int:
    with services.store.read() as session:
        db.projects.project_named(session, args.name)  # fails before any processing
    options = CorpusOptions(workers=args.workers or available_cores())
    summary = label_corpus(args.paths, services, options)
    found = [o for o in summary.outcomes if o.result is not None]
    with services.store.write() as session:
        project = db.projects.project_named(session, args.name)
        added = db.projects.add_project_videos(session, project,
                                               (o.result.video_id for o in found))
    print(f"{added} videos added to {args.name} ({len(summary.stored())} processed now, "
          f"{len(summary.skipped())} processed before, {len(found) - added} already in it)")
    for outcome in summary.failed():
        print(f"au-annotator project: error: {outcome.path}: {outcome.problem}", file=sys.stderr)
    return 2 if summary.failed() else 0


def _members(session, args):
    project = db.projects.project_named(session, args.name)
    for coder in args.add:
        db.projects.set_member(session, project, coder, "coder")
    for coder in args.admin:
        db.projects.set_member(session, project, coder, "admin")
    for coder in args.remove:
        db.projects.remove_member(session, project, coder)
    for coder, role in db.projects.project_members(session, project):
        yield f"{coder}\t{role}"


def _list(session, args):
    for project in db.projects.list_projects(session):
        members = len(db.projects.project_members(session, project))
        videos = len(db.projects.project_video_ids(session, project.id))
        yield f"{project.name}\t{project.au_set}\t{members} members\t{videos} videos"


def _assign(session, args):
    planned = assign(session, args.name, args.reliability)
    names = {v.id: v.name for v in db.list_videos(session)}
    for video_id, coder, role in planned:
        yield f"{names[video_id]}\t{coder}\t{role}"
    videos = len({video_id for video_id, _, _ in planned})
    twice = sum(role == "reliability" for _, _, role in planned)
    yield f"{videos} videos assigned, {twice} of them also for reliability"


def _progress(session, args):
    for state in progress(session, args.name):
        row = state.assignment
        yield (f"{row.video_name}\t{row.coder}\t{row.role}\t{100 * state.share:.1f} %\t"
               f"{'done' if row.done else 'open'}")


def _done(session, args):
    mark_done(session, args.name, args.video, args.coder)
    yield f"{args.video}: done by {args.coder}"


def _reopen(session, args):
    reopen(session, args.name, args.video, args.coder, args.by)
    yield f"{args.video}: reopened for {args.coder}"


def _reassign(session, args):
    yield reassign(session, args.name, args.video, args.old, args.new)


def _report(session, args):
    from annotator.services.reliability import write_report

    yield from (str(path) for path in write_report(session, args.name, args.out))


ACTIONS = {"add": _add, "members": _members, "list": _list, "assign": _assign,
           "progress": _progress, "done": _done, "reopen": _reopen, "report": _report,
           "reassign": _reassign}
