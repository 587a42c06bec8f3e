"""Sign-ins that outlive a page: a random token kept in the coder's browser (a cookie), looked
up here on every page run, so a reload or a new tab finds the coder again and every change to
their account (disabled, admin granted or removed, accounts added) applies at their next action.

Only the token's SHA-256 is stored. A token signs its coder in while it is neither expired nor
revoked and the coder may still sign in that way: an account not disabled; a one-person
("name only") sign-in only while the database has no accounts. A token nobody issued matches
no row, so it signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.coders import accounts_exist, coder_named
from db.tables import Coder, SignInToken, utc_now

ACCOUNT, NAME_ONLY = "account", "name only"


@dataclass(frozen=True)
class SignIn:
    """Who a valid token signs in, with the role they have now."""

    name: str
    admin: bool
    how: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_sign_in(session: Session, name: str, how: str, lifetime: timedelta) -> tuple[str, SignIn]:
    """A new token for coder `name` (the caller checked the password), valid for `lifetime`."""
    if how not in (ACCOUNT, NAME_ONLY):
        raise ValueError(f"a sign-in is by {ACCOUNT!r} or {NAME_ONLY!r}, got {how!r}")
    token = secrets.token_urlsafe(32)
    coder = coder_named(session, name)
    row = SignInToken(token_hash=_digest(token), coder_id=coder.id, how=how,
                      expires_at=utc_now() + lifetime)
    session.add(row)
    session.flush()
    return token, _sign_in(session, coder, row)


def signed_in_by_token(session: Session, token: str) -> SignIn | None:
    """Who `token` signs in now, or None (unknown, expired, revoked, or its coder can no
    longer sign in that way)."""
    found = session.execute(
        select(SignInToken, Coder).join(Coder, Coder.id == SignInToken.coder_id)
        .where(SignInToken.token_hash == _digest(token))).first()
    if found is None:
        return None
    row, coder = found
    if row.revoked_at is not None or row.expires_at <= utc_now():
        return None
    if row.how == ACCOUNT and (coder.password_hash is None or coder.disabled):
        return None
    if row.how == NAME_ONLY and accounts_exist(session):
        return None
    return _sign_in(session, coder, row)


def _sign_in(session: Session, coder: Coder, row: SignInToken) -> SignIn:
    admin = bool(coder.is_admin) if row.how == ACCOUNT else True  # one person runs it all
    return SignIn(coder.name, admin, row.how, row.expires_at)


def end_sign_in(session: Session, token: str) -> None:
    """Sign out: the token signs nobody in from now on."""
    session.execute(update(SignInToken).where(SignInToken.token_hash == _digest(token),
                                              SignInToken.revoked_at.is_(None))
                    .values(revoked_at=utc_now()))

