"""`au-annotator` command line: one subcommand per module in `annotator.commands`.

Each command module defines NAME, HELP, `add_arguments(parser)` and `run(args) -> int`.
Bad input surfaces as one line on stderr naming the file and the problem, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import annotator.commands
from annotator.errors import InputError

# The order commands are listed in `--help` (DESIGN.md's order); others follow alphabetically.
_ORDER = ("app", "process", "predict", "train", "evaluate", "finetune", "export",
          "import-labels", "bench")


def _command_modules():
    modules = [
        importlib.import_module(f"annotator.commands.{info.name}")
        for info in pkgutil.iter_modules(annotator.commands.__path__)
        if not info.name.startswith("_")
    ]
    rank = {name: i for i, name in enumerate(_ORDER)}
    return sorted(modules, key=lambda m: (rank.get(m.NAME, len(rank)), m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="au-annotator", description="AU annotation assistant for FACS coders."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules():
        sub = subcommands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
