"""Model versions: checkpoints with their lineage and metrics; one of them is active.

Checkpoint files are written atomically and never overwritten, so activating a version or
rolling back to an older one only changes which row is active.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ModelVersion
from model.formats import au_names

logger = logging.getLogger(__name__)


def add_model_version(
    session: Session,
    path: str | Path,
    au_set: str,
    metrics: dict | None = None,
    parent_id: int | None = None,
    note: str = "",
) -> ModelVersion:
    """Record a checkpoint file (not yet active)."""
    au_names(au_set)  # a clear error for an unknown AU set
    version = ModelVersion(
        path=str(path), au_set=au_set, metrics=metrics or {}, parent_id=parent_id, note=note
    )
    session.add(version)
    session.flush()
    return version


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
