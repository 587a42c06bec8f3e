"""`au-annotator` command line: one subcommand per module in `annotator.commands`.

Each command module defines NAME, HELP, `add_arguments(parser)` and `run(args) -> int`.
Only the module of the command being run is imported (they pull in torch, Streamlit...), so
`--help` and quick commands start fast. Bad input surfaces as one line on stderr naming the
file and the problem, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from annotator.errors import InputError

# name → one-line help, in DESIGN.md's order; the module is annotator.commands.<name with _>.
COMMANDS = {
    "app": "launch the Streamlit UI",
    "process": "run the AU pipeline on a video and store its pre-fill in the database",
    "predict": "write an ABAW-format prediction file for a video",
    "train": "train the seed AU network on an Aff-Wild2-format folder",
    "evaluate": "print the ABAW score of a checkpoint on an Aff-Wild2-format folder",
    "finetune": "fine-tune the active model on coders' corrections",
    "export": "export labels as Aff-Wild2 txt or OpenFace-style CSV",
    "import-labels": "import an Aff-Wild2 label folder as one coder's labels",
    "bench": "time decode → landmarks → features → AU probabilities against a reference",
}


def _command_module(name: str):
    return importlib.import_module(f"annotator.commands.{name.replace('-', '_')}")


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
    for name, summary in COMMANDS.items():
        sub = subcommands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            module = _command_module(name)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except InputError as error:
        print(f"au-annotator {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"au-annotator {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
