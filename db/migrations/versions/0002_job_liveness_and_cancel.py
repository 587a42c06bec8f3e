"""Jobs: the working process and its heartbeat, cancel requests, details, a "cancelled" state,
and at most one active fine-tune job.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OLD_STATES = "state IN ('queued', 'running', 'done', 'failed')"
_NEW_STATES = "state IN ('queued', 'running', 'done', 'failed', 'cancelled')"
_EXCLUSIVE_ACTIVE = "kind IN ('finetune') AND state IN ('queued', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch.drop_constraint(op.f("ck_jobs_state"), type_="check")
        batch.create_check_constraint("state", _NEW_STATES)
    op.create_index(
        "ix_jobs_one_exclusive_active",
        "jobs",
        ["kind"],
        unique=True,
        sqlite_where=sa.text(_EXCLUSIVE_ACTIVE),
        postgresql_where=sa.text(_EXCLUSIVE_ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_one_exclusive_active", table_name="jobs")
    op.execute("UPDATE jobs SET state = 'failed' WHERE state = 'cancelled'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_state"), type_="check")
        batch.create_check_constraint("state", _OLD_STATES)
        for column in ("details", "cancel_requested", "heartbeat_at", "pid", "host"):
            batch.drop_column(column)
