"""Model versions keep a copy of their checkpoint file, so every host using the database loads
the same file; versions recorded before get the copy when their file is readable here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("checkpoint", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("checkpoint_sha256", sa.String(length=64), nullable=True))
    versions = sa.table(
        "model_versions", sa.column("id", sa.Integer), sa.column("path", sa.Text),
        sa.column("checkpoint", sa.LargeBinary), sa.column("checkpoint_sha256", sa.String),
    )
    connection = op.get_bind()
    for version_id, path in connection.execute(sa.select(versions.c.id, versions.c.path)).all():
        file = Path(path)
        if file.is_file():
            data = file.read_bytes()
            connection.execute(
                versions.update().where(versions.c.id == version_id).values(
                    checkpoint=data, checkpoint_sha256=hashlib.sha256(data).hexdigest()
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("checkpoint_sha256")
        batch.drop_column("checkpoint")
