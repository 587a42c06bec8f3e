"""Subjects: the people (face tracks) of a video. Corrections and prediction runs belong to a
subject instead of a "side".

Every existing video becomes a video with subject 1, which takes its prediction runs and the
corrections without a side (frames seen: the face frames of its newest run). A video whose
corrections name sides (imported `_left` / `_right` label files) gets one more subject per side,
numbered after 1 in the order left, right, placed in the middle of that half of the picture
(`centre_x`), so exports still name them `_left` and `_right`. No correction is lost or changed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SIDES = ("left", "right")
_SIDE_CENTRE = {"left": 0.25, "right": 0.75}  # of the picture's width


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("frames_seen", sa.Integer(), nullable=True),
        sa.Column("centre_x", sa.Float(), nullable=True),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("number >= 1", name=op.f("ck_subjects_number")),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"],
                                name=op.f("fk_subjects_video_id_videos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("video_id", "number", name=op.f("uq_subjects_video_id")),
    )
    with op.batch_alter_table("edits") as batch:
        batch.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("prediction_runs") as batch:
        batch.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
    _give_everything_a_subject(op.get_bind())
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_edits_on_sqlite()
    else:
        with op.batch_alter_table("edits") as batch:
            batch.drop_index("ix_edits_track")
            batch.drop_constraint(op.f("ck_edits_side"), type_="check")
            batch.drop_column("side")
            batch.alter_column("subject_id", existing_type=sa.Integer(), nullable=False)
            batch.create_foreign_key(op.f("fk_edits_subject_id_subjects"), "subjects",
                                     ["subject_id"], ["id"])
            batch.create_index("ix_edits_track", ["video_id", "coder_id", "subject_id"])
    with op.batch_alter_table("prediction_runs") as batch:
        batch.alter_column("subject_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_prediction_runs_subject_id_subjects"), "subjects",
                                 ["subject_id"], ["id"])
        batch.create_index(op.f("ix_prediction_runs_subject_id"), ["subject_id"])


def _rebuild_edits_on_sqlite() -> None:
    """SQLite alters a table by building it anew, and dropping the old `edits` would orphan
    the corrections pointing at it: with foreign keys checked at commit (this transaction
    only), the edits are copied aside, the table made again and refilled, so every correction
    has its edit again by the end."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TABLE _edits_before_subjects AS SELECT * FROM edits")
    op.drop_index("ix_edits_track", table_name="edits")
    op.drop_table("edits")
    op.create_table(
        "edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("coder_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target_edit_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('edit', 'accept', 'import', 'undo', 'redo')",
                           name=op.f("ck_edits_kind")),
        sa.ForeignKeyConstraint(["coder_id"], ["coders.id"],
                                name=op.f("fk_edits_coder_id_coders")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_edits_subject_id_subjects")),
        sa.ForeignKeyConstraint(["target_edit_id"], ["edits.id"],
                                name=op.f("fk_edits_target_edit_id_edits")),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"],
                                name=op.f("fk_edits_video_id_videos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edits")),
    )
    columns = "id, video_id, coder_id, subject_id, kind, target_edit_id, created_at"
    op.execute(f"INSERT INTO edits ({columns}) SELECT {columns} FROM _edits_before_subjects "
               "ORDER BY id")
    op.drop_table("_edits_before_subjects")
    op.create_index("ix_edits_track", "edits", ["video_id", "coder_id", "subject_id"])


def _give_everything_a_subject(connection) -> None:
    videos = sa.table("videos", sa.column("id", sa.Integer), sa.column("width", sa.Integer))
    subjects = sa.table(
        "subjects", sa.column("id", sa.Integer), sa.column("video_id", sa.Integer),
        sa.column("number", sa.Integer), sa.column("frames_seen", sa.Integer),
        sa.column("centre_x", sa.Float),
    )
    edits = sa.table("edits", sa.column("video_id", sa.Integer), sa.column("side", sa.String),
                     sa.column("subject_id", sa.Integer))
    runs = sa.table("prediction_runs", sa.column("id", sa.Integer),
                    sa.column("video_id", sa.Integer), sa.column("subject_id", sa.Integer),
                    sa.column("frame_count", sa.Integer),
                    sa.column("probabilities", sa.LargeBinary))

    def add_subject(video_id: int, number: int, frames_seen, centre_x) -> int:
        connection.execute(subjects.insert().values(
            video_id=video_id, number=number, frames_seen=frames_seen, centre_x=centre_x))
        return connection.execute(sa.select(subjects.c.id).where(
            subjects.c.video_id == video_id, subjects.c.number == number)).scalar_one()

    for video_id, width in connection.execute(sa.select(videos.c.id, videos.c.width)).all():
        newest = connection.execute(
            sa.select(runs.c.frame_count, runs.c.probabilities).where(runs.c.video_id == video_id)
            .order_by(runs.c.id.desc()).limit(1)).first()
        first = add_subject(video_id, 1, None if newest is None else _face_frames(*newest), None)
        connection.execute(runs.update().where(runs.c.video_id == video_id)
                           .values(subject_id=first))
        connection.execute(edits.update().where(edits.c.video_id == video_id,
                                                edits.c.side.is_(None)).values(subject_id=first))
        used = set(connection.execute(sa.select(edits.c.side).distinct().where(
            edits.c.video_id == video_id, edits.c.side.is_not(None))).scalars())
        for number, side in enumerate((s for s in _SIDES if s in used), start=2):
            subject = add_subject(video_id, number, None, _SIDE_CENTRE[side] * width)
            connection.execute(edits.update().where(edits.c.video_id == video_id,
                                                    edits.c.side == side)
                               .values(subject_id=subject))


def _face_frames(frame_count: int, probabilities: bytes) -> int:
    """Frames of a stored run with a face (rows not all NaN)."""
    values = np.frombuffer(probabilities, dtype="<f4").reshape(frame_count, -1)
    return int((~np.isnan(values).all(axis=1)).sum())


# a subject's side when subjects are undone: subject 1 none, any other the half of the picture
# its face is on (more than two people cannot be told apart by sides)
_SIDE_OF_SUBJECT = ("CASE WHEN s.number = 1 THEN NULL WHEN s.centre_x IS NOT NULL AND "
                    "s.centre_x < v.width / 2.0 THEN 'left' ELSE 'right' END")


def downgrade() -> None:
    with op.batch_alter_table("prediction_runs") as batch:
        batch.drop_index(op.f("ix_prediction_runs_subject_id"))
        batch.drop_constraint(op.f("fk_prediction_runs_subject_id_subjects"), type_="foreignkey")
        batch.drop_column("subject_id")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_edits_with_sides_on_sqlite()
    else:
        with op.batch_alter_table("edits") as batch:
            batch.add_column(sa.Column("side", sa.String(length=5), nullable=True))
        op.execute(f"UPDATE edits SET side = (SELECT {_SIDE_OF_SUBJECT} FROM subjects s JOIN "
                   "videos v ON v.id = s.video_id WHERE s.id = edits.subject_id)")
        with op.batch_alter_table("edits") as batch:
            batch.drop_index("ix_edits_track")
            batch.drop_constraint(op.f("fk_edits_subject_id_subjects"), type_="foreignkey")
            batch.drop_column("subject_id")
            batch.create_check_constraint(op.f("ck_edits_side"), "side IN ('left', 'right')")
            batch.create_index("ix_edits_track", ["video_id", "coder_id", "side"])
    op.drop_table("subjects")


def _rebuild_edits_with_sides_on_sqlite() -> None:
    """The edits table as revision 0004 had it, refilled as in _rebuild_edits_on_sqlite."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TABLE _edits_with_sides AS SELECT e.id, e.video_id, e.coder_id, "
               f"{_SIDE_OF_SUBJECT} AS side, e.kind, e.target_edit_id, e.created_at "
               "FROM edits e JOIN subjects s ON s.id = e.subject_id "
               "JOIN videos v ON v.id = s.video_id")
    op.drop_index("ix_edits_track", table_name="edits")
    op.drop_table("edits")
    op.create_table(
        "edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("coder_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=5), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target_edit_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('edit', 'accept', 'import', 'undo', 'redo')",
                           name=op.f("ck_edits_kind")),
        sa.CheckConstraint("side IN ('left', 'right')", name=op.f("ck_edits_side")),
        sa.ForeignKeyConstraint(["coder_id"], ["coders.id"],
                                name=op.f("fk_edits_coder_id_coders")),
        sa.ForeignKeyConstraint(["target_edit_id"], ["edits.id"],
                                name=op.f("fk_edits_target_edit_id_edits")),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"],
                                name=op.f("fk_edits_video_id_videos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edits")),
    )
    columns = "id, video_id, coder_id, side, kind, target_edit_id, created_at"
    op.execute(f"INSERT INTO edits ({columns}) SELECT {columns} FROM _edits_with_sides "
               "ORDER BY id")
    op.drop_table("_edits_with_sides")
    op.create_index("ix_edits_track", "edits", ["video_id", "coder_id", "side"])
