"""`au-annotator` command line: subcommands grouped by what they work on in
`annotator.commands` (app, videos, models, labels, coders, projects).

Each command `NAME` of module M has `M.add_NAME_arguments(parser)` and `M.run_NAME(args) -> int`
(dashes become underscores). Only the module of the command being run is imported (they pull
in torch, Streamlit...), so `--help` and quick commands start fast. Bad input surfaces as one
line on stderr naming the file and the problem, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from model.errors import InputError

# name → (module in annotator.commands, one-line help), in the order `--help` lists them.
COMMANDS = {
    "app": ("app", "launch the Streamlit UI (opens on the bundled demo video)"),
    "process": ("videos", "run the AU pipeline on a video and store its pre-fill in the database"),
    "predict": ("videos", "write per-frame AU labels for a video as an Aff-Wild2 prediction file"),
    "train": ("models", "train the seed AU network on an Aff-Wild2-format folder"),
    "evaluate": ("models", "print the ABAW score and per-AU F1 of a checkpoint on an "
                           "Aff-Wild2-format folder"),
    "finetune": ("models", "fine-tune the active model on coders' corrections; prints held-out "
                           "scores"),
    "adapt": ("models", "let one video's pre-fill learn from the frames coders reviewed in it"),
    "queue": ("models", "print where a coder's look would change the pre-fill most "
                        "(AU first last score reason)"),
    "export": ("labels", "export labels as Aff-Wild2 txt, ELAN .eaf, BORIS project or OpenFace "
                         "CSV"),
    "import-labels": ("labels", "import Aff-Wild2 label files and ELAN .eaf files as one coder's "
                                "labels (all files or none)"),
    "project": ("projects", "a lab's coding projects: videos, members, assignments, progress, "
                            "done, reliability report"),
    "coder": ("coders", "manage the accounts coders sign in with (add, list, disable, admin)"),
    "bench": ("videos", "time decode → landmarks → features → AU probabilities against a "
                        "reference"),
}


def _chosen_command(argv: list[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="au-annotator", description="AU annotation assistant for FACS coders."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen_command(argv)
    for name, (module_name, summary) in COMMANDS.items():
        sub = subcommands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            module = importlib.import_module(f"annotator.commands.{module_name}")
            function = name.replace("-", "_")
            getattr(module, f"add_{function}_arguments")(sub)
            sub.set_defaults(run=getattr(module, f"run_{function}"))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if "db" in vars(args):  # a command working on the store: its services, built once
            from annotator.services import Services
            from db import database_url

            args.services = Services.open(database_url(args.db))
        return args.run(args)
    except InputError as error:
        print(f"au-annotator {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a folder it may not write to: no traceback
        logging.getLogger(__name__).info("%s failed", args.command, exc_info=True)
        where = f"{error.filename}: " if error.filename else ""
        print(f"au-annotator {args.command}: error: {where}{error.strerror or error}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"au-annotator {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
