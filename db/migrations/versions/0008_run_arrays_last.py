"""Prediction runs keep their two arrays in the last columns (SQLite only).

SQLite stores a row's columns in order and a value too large for the page spills onto overflow
pages: to read a column after a 30-minute run's 2 MB of arrays it walks all of them. Every page
redraw reads the newest run's id, subject and time, which sat after the arrays (`created_at`,
and `subject_id`, added by 0005 at the end), so each such read walked about 2 MB. The table is
copied once in the order id, video, subject, model version, AU set, parameters, frame count,
time, then the arrays; nothing else changes. PostgreSQL keeps large values out of the row
already, so its table is left as it is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ORDER = ("id", "video_id", "subject_id", "model_version_id", "au_set", "parameters",
          "frame_count", "created_at", "probabilities", "prefill")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("prediction_runs", recreate="always",
                              partial_reordering=[_ORDER]):
        pass


def downgrade() -> None:
    """Nothing to undo: the order of columns is not part of what the schema means."""
