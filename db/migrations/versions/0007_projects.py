"""Projects: a lab's videos coded in one AU set by its members, assignments of videos to
coders (primary or reliability coding) and the marks that say an assignment is done. Nothing
existing changes: a database without projects works as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _foreign_key(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("au_set", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "project_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("coder_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'coder')", name=op.f("ck_project_members_role")),
        _foreign_key("project_members", "coder_id", "coders"),
        _foreign_key("project_members", "project_id", "projects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_members")),
        sa.UniqueConstraint("project_id", "coder_id",
                            name=op.f("uq_project_members_project_id")),
    )
    op.create_index(op.f("ix_project_members_coder_id"), "project_members", ["coder_id"])
    op.create_table(
        "project_videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        _foreign_key("project_videos", "project_id", "projects"),
        _foreign_key("project_videos", "video_id", "videos"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_videos")),
        sa.UniqueConstraint("project_id", "video_id", name=op.f("uq_project_videos_project_id")),
    )
    op.create_index(op.f("ix_project_videos_video_id"), "project_videos", ["video_id"])
    _create_assignments()


def _create_assignments() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("coder_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("role IN ('primary', 'reliability')",
                           name=op.f("ck_assignments_role")),
        _foreign_key("assignments", "coder_id", "coders"),
        _foreign_key("assignments", "project_id", "projects"),
        _foreign_key("assignments", "video_id", "videos"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("project_id", "video_id", "coder_id",
                            name=op.f("uq_assignments_project_id")),
    )
    op.create_index(op.f("ix_assignments_coder_id"), "assignments", ["coder_id"])
    op.create_table(
        "done_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("by_coder_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _foreign_key("done_marks", "assignment_id", "assignments"),
        _foreign_key("done_marks", "by_coder_id", "coders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_done_marks")),
    )
    op.create_index(op.f("ix_done_marks_assignment_id"), "done_marks", ["assignment_id"])


def downgrade() -> None:
    for table in ("done_marks", "assignments", "project_videos", "project_members"):
        op.drop_table(table)
    op.drop_table("projects")
