"""Model versions: checkpoints with their lineage and metrics; one of them is active.

Checkpoint files are written atomically and never overwritten, so activating a version or
rolling back to an older one only changes which row is active.

Each version keeps a copy of its checkpoint's bytes in the database. A host loads a version
from the path it was published at when that file is there with the same bytes (the host that
made it), else from the copy, written once into a local folder (`model_version_file`): every
host using one database (PostgreSQL) loads the same file, with no shared folder to set up.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.tables import ModelVersion
from model.au_sets import au_names
from model.files import content_hash, write_bytes_atomically

logger = logging.getLogger(__name__)


def add_model_version(
    session: Session,
    path: str | Path,
    au_set: str,
    metrics: dict | None = None,
    parent_id: int | None = None,
    note: str = "",
) -> ModelVersion:
    """Record a checkpoint file (not yet active) with a copy of its bytes; a path that is not a
    readable file here (one on another host) is recorded without a copy."""
    au_names(au_set)  # a clear error for an unknown AU set
    file = Path(path)
    checkpoint = file.read_bytes() if file.is_file() else None
    version = ModelVersion(
        path=str(path), au_set=au_set, metrics=_finite(metrics or {}), parent_id=parent_id,
        note=note,
        checkpoint=checkpoint,
        checkpoint_sha256=hashlib.sha256(checkpoint).hexdigest() if checkpoint else None,
    )
    session.add(version)
    session.flush()
    return version


def _finite(value):
    """`value` with NaN and infinite numbers as None: JSON has no such numbers and PostgreSQL
    refuses them, so every database stores the same metrics."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def activate_model_version(session: Session, version_id: int) -> ModelVersion:
    """Make one version the active one (also how a rollback is done)."""
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise ValueError(f"no model version {version_id}")
    # deactivate first: the database allows only one active row at any moment
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.active, ModelVersion.id != version_id)
        .values(active=False)
    )
    session.flush()
    version.active = True
    session.flush()
    logger.info("model version %d is now active", version_id)
    return version


def deactivate_model_versions(session: Session) -> None:
    """No active version: the landmark-geometry baseline pre-fills again (a full rollback)."""
    session.execute(update(ModelVersion).where(ModelVersion.active).values(active=False))
    session.flush()
    logger.info("no model version is active; the geometry baseline pre-fills")


def get_model_version(session: Session, version_id: int) -> ModelVersion | None:
    return session.get(ModelVersion, version_id)


def active_model_version(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.active))


def list_model_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))


def model_version_file(session: Session, version: ModelVersion, copies_folder: Path) -> Path:
    """The checkpoint file to load `version` from on this host.

    Its published path when that file holds the stored copy's bytes; else the copy, written
    into `copies_folder/<sha256>/` under the published file's name with the version's ancestors
    beside it (a fine-tuned checkpoint finds its parent beside itself). Files already there with
    the right bytes are kept. A version stored without a copy loads from its path.
    """
    published = Path(version.path)
    if version.checkpoint_sha256 is None or _holds(published, version.checkpoint_sha256):
        return published
    folder = Path(copies_folder) / version.checkpoint_sha256
    member: ModelVersion | None = version
    while member is not None:
        target = folder / Path(member.path).name
        if member.checkpoint_sha256 is not None and not _holds(target, member.checkpoint_sha256):
            data = session.scalar(
                select(ModelVersion.checkpoint).where(ModelVersion.id == member.id)
            )
            write_bytes_atomically(target, data)
            logger.info("model version %d: copied from the database to %s", member.id, target)
        member = member.parent
    return folder / published.name


def _holds(file: Path, sha256: str) -> bool:
    return file.is_file() and content_hash(file) == sha256
