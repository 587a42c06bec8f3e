"""`au-annotator coder`: accounts for a lab's shared app.

    au-annotator coder add NAME [--admin]     asks for the password twice (or reads one line
                                              from standard input with --password-stdin)
    au-annotator coder list                   every coder: account or name only, admin, disabled
    au-annotator coder disable NAME           the account can no longer sign in (its open
                                              pages are signed out at their next action);
                                              labels stay
    au-annotator coder admin NAME [--remove]  grant (or remove) the administrator role; open
                                              pages follow at their next action

An app served beyond this computer (`au-annotator app --address ...`) requires a sign-in with
these accounts (or Streamlit's OIDC with an allow-list); see the README's "Running for a team".
"""

from __future__ import annotations

import argparse
import getpass
import sys

from db import DATABASE_OPTION_HELP


def add_coder_arguments(parser: argparse.ArgumentParser) -> None:
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--db", metavar="URL", help=DATABASE_OPTION_HELP)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[database],
                             help="make an account (asks for its password)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true",
                     help="may activate and roll back model versions, cancel others' jobs")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from one line of standard input (for scripts)")
    actions.add_parser("list", parents=[database], help="list coders and accounts")
    disable = actions.add_parser("disable", parents=[database],
                                 help="stop an account from signing in")
    disable.add_argument("name", metavar="NAME")
    admin = actions.add_parser("admin", parents=[database],
                               help="grant an account the administrator role (or --remove it)")
    admin.add_argument("name", metavar="NAME")
    admin.add_argument("--remove", action="store_true", help="remove the role instead")


def run_coder(args: argparse.Namespace) -> int:
    from db import (
        AccountError,
        add_account,
        disable_account,
        list_coders,
        set_admin,
    )

    with args.services.store.write() as session:
        try:
            if args.action == "add":
                coder = add_account(session, args.name, _password(args), args.admin)
                print(f"account {coder.name}{' (admin)' if coder.is_admin else ''} added")
            elif args.action == "disable":
                print(f"account {disable_account(session, args.name).name} disabled")
            elif args.action == "admin":
                coder = set_admin(session, args.name, not args.remove)
                print(f"account {coder.name} {'is' if coder.is_admin else 'is no longer'} "
                      "an administrator")
            else:
                for coder in list_coders(session):
                    print(_describe(coder))
        except AccountError as error:
            print(f"au-annotator coder: error: {error}", file=sys.stderr)
            return 2
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if first != getpass.getpass("again: "):
        from db import AccountError

        raise AccountError("the two passwords differ; nothing was stored")
    return first


def _describe(coder) -> str:
    kind = "name only" if coder.password_hash is None else "account"
    flags = [kind] + (["admin"] if coder.is_admin else []) + (
        ["disabled"] if coder.disabled else [])
    return f"{coder.name}\t{', '.join(flags)}"
