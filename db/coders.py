"""Coders and their accounts, and each coder's own pre-fill settings per video.

A coder is created by name the first time labels are stored under it (the one-person
localhost mode, imports). An account is a coder with a password, stored as an argon2 hash
(argon2-cffi's defaults; a hash made with older parameters is renewed at the next sign-in);
an administrator may also activate or roll back model versions and cancel others' jobs; a
disabled account can no longer sign in, and its labels stay.

Pre-fill settings (smoothing window, thresholds) belong to one coder and one video: a coder
tuning them changes what they see and export, never another coder's pre-fill.
"""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.tables import Coder, PrefillSettings, SignInToken, utc_now

logger = logging.getLogger(__name__)

_hasher = PasswordHasher()
MIN_PASSWORD = 8


class AccountError(ValueError):
    """An account cannot be made or changed as asked; the message says why."""


def coder_named(session: Session, name: str) -> Coder:
    """The coder called `name`, created on first use."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError(f"coder name must be 1 to 100 characters, got {name!r}")
    coder = session.scalar(select(Coder).where(Coder.name == name))
    if coder is None:
        coder = Coder(name=name)
        session.add(coder)
        session.flush()
    return coder


def add_account(session: Session, name: str, password: str, admin: bool = False) -> Coder:
    """Give coder `name` a password (an existing name-only coder keeps its labels)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    coder = coder_named(session, name)
    if coder.password_hash is not None:
        raise AccountError(f"{coder.name} already has an account")
    coder.password_hash = _hasher.hash(password)
    coder.is_admin, coder.disabled = admin, False
    logger.info("account added: %s%s", coder.name, " (admin)" if admin else "")
    return coder


def signed_in(session: Session, name: str, password: str) -> Coder | None:
    """The account when `password` is right and it is not disabled; None otherwise."""
    coder = session.scalar(select(Coder).where(Coder.name == name.strip()))
    if coder is None or coder.password_hash is None or coder.disabled:
        _hasher_delay(password)
        return None
    try:
        _hasher.verify(coder.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(coder.password_hash):
        coder.password_hash = _hasher.hash(password)
    return coder


def _hasher_delay(password: str) -> None:
    # as slow as a real check, so a wrong name cannot be told from a wrong password by time
    _hasher.hash(password)


def _account(session: Session, name: str) -> Coder:
    coder = session.scalar(select(Coder).where(Coder.name == name.strip()))
    if coder is None or coder.password_hash is None:
        raise AccountError(f"no account named {name.strip()!r}")
    return coder


def disable_account(session: Session, name: str) -> Coder:
    """The account can no longer sign in, and every sign-in it holds ends now."""
    coder = _account(session, name)
    coder.disabled = True
    session.execute(update(SignInToken).where(SignInToken.coder_id == coder.id,
                                              SignInToken.revoked_at.is_(None))
                    .values(revoked_at=utc_now()))
    return coder


def set_admin(session: Session, name: str, admin: bool) -> Coder:
    """Grant or remove the administrator role (signed-in pages follow at their next action)."""
    coder = _account(session, name)
    coder.is_admin = admin
    return coder


def accounts_exist(session: Session) -> bool:
    """Some coder can sign in with a password."""
    return session.scalar(
        select(Coder.id).where(Coder.password_hash.is_not(None), Coder.disabled.is_(False))
        .limit(1)) is not None


def list_coders(session: Session) -> list[Coder]:
    return list(session.scalars(select(Coder).order_by(Coder.name)))


def prefill_settings(session: Session, video_id: int, coder: str | None) -> PrefillSettings | None:
    """The coder's own smoothing window and thresholds for the video, if they set any."""
    if coder is None:
        return None
    return session.scalar(
        select(PrefillSettings).join(Coder, Coder.id == PrefillSettings.coder_id)
        .where(PrefillSettings.video_id == video_id, Coder.name == coder))


def set_prefill_settings(session: Session, video_id: int, coder: str, smoothing_window: int,
                         thresholds: dict[str, float]) -> PrefillSettings:
    """Store the coder's smoothing window and thresholds (every AU's) for the video."""
    settings = prefill_settings(session, video_id, coder)
    if settings is None:
        settings = PrefillSettings(video_id=video_id, coder_id=coder_named(session, coder).id,
                                   smoothing_window=smoothing_window, thresholds=thresholds)
        session.add(settings)
    else:
        settings.smoothing_window, settings.thresholds = smoothing_window, dict(thresholds)
    session.flush()
    return settings
