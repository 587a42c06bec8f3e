"""`--as CODER`: a command run with a coder's account, limited to what that coder may see in the
app.

Without `--as` a command runs for the machine's owner, who can read the database file anyway,
and sees every video. With it, the coder signs in as on the page, through the same check
(annotator.services.actions.sign_in: the account's argon2 hash, a disabled account refused):
the password comes from the environment variable AU_ANNOTATOR_PASSWORD when it is set (for
scripts), else it is asked without echo. A database without accounts signs in by name alone,
as the page's one-person mode does, and that person administers. What the coder may read is the
page's rule (annotator.services.lab_projects), applied by each command.
"""

from __future__ import annotations

import argparse
import getpass
import os
from dataclasses import dataclass

from annotator.services import actions
from model.errors import InputError

PASSWORD_VARIABLE = "AU_ANNOTATOR_PASSWORD"


@dataclass(frozen=True)
class SignedIn:
    """The coder a command runs for, and whether they administer the app."""

    name: str
    admin: bool


def add_as_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="as_coder", metavar="CODER",
                        help="run with this coder's account (asks their password, or reads "
                             f"${PASSWORD_VARIABLE}): only what they may see in the app")


def signed_in_as(args: argparse.Namespace) -> SignedIn | None:
    """The coder of `--as` once signed in; None without `--as` (the machine's owner)."""
    if args.as_coder is None:
        return None
    services = args.services
    if not actions.accounts_exist(services):
        return SignedIn(args.as_coder.strip(), True)
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None:
        password = getpass.getpass(f"password for {args.as_coder}: ")
    account = actions.sign_in(services, args.as_coder, password)
    if account is None:
        raise InputError(args.as_coder, "name or password is wrong (or the account is disabled)")
    return SignedIn(*account)
