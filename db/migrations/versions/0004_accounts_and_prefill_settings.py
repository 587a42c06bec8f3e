"""Coders become accounts (password hash, admin, disabled), and each coder's own smoothing
window and thresholds per video.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coders") as batch:
        batch.add_column(sa.Column("password_hash", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(
            sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "prefill_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("coder_id", sa.Integer(), nullable=False),
        sa.Column("smoothing_window", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("smoothing_window >= 1", name=op.f("ck_prefill_settings_window")),
        sa.ForeignKeyConstraint(["coder_id"], ["coders.id"],
                                name=op.f("fk_prefill_settings_coder_id_coders")),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"],
                                name=op.f("fk_prefill_settings_video_id_videos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prefill_settings")),
        sa.UniqueConstraint("video_id", "coder_id", name=op.f("uq_prefill_settings_video_id")),
    )


def downgrade() -> None:
    op.drop_table("prefill_settings")
    with op.batch_alter_table("coders") as batch:
        for column in ("disabled", "is_admin", "password_hash"):
            batch.drop_column(column)
