"""The annotation store's tables (SQLAlchemy 2.0 declarative models).

Frames are 0-based decode indices everywhere in the database (Aff-Wild2 files are 1-based; the
import/export code converts). Label values are PRESENT/ABSENT/NOT_CODED (1/0/-1).

Changing a model means writing an Alembic migration in db/migrations/versions: a test compares
these models with the migrated schema and fails on any difference.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so later migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EDIT_KINDS = ("edit", "accept", "import", "undo", "redo")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
PROJECT_ROLES = ("admin", "coder")
ASSIGNMENT_ROLES = ("primary", "reliability")
# Job kinds of which at most one may be queued or running at a time (the database enforces it).
EXCLUSIVE_JOB_KINDS = ("finetune",)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_EXCLUSIVE_ACTIVE = (
    f"{_one_of('kind', EXCLUSIVE_JOB_KINDS)} AND {_one_of('state', ('queued', 'running'))}"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite would otherwise drop the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the database; use UTC-aware times")
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Coder(Base):
    """A person whose labels are stored. An account when it has a password (argon2 hash):
    only accounts can sign in to an app served beyond this computer; a name-only coder exists
    for the one-person localhost mode and for labels imported under a name."""

    __tablename__ = "coders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SignInToken(Base):
    """A coder's sign-in, kept in their browser as a cookie holding a random token: only the
    token's SHA-256 is stored, so the table cannot sign anyone in. It ends at `expires_at`,
    when revoked (Sign out, the account disabled), or when its coder may no longer sign in."""

    __tablename__ = "sign_in_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    coder_id: Mapped[int] = mapped_column(ForeignKey("coders.id"), index=True)
    how: Mapped[str] = mapped_column(String(20))  # "account" or "name only"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("how IN ('account', 'name only')", name="how"),)


class PrefillSettings(Base):
    """One coder's smoothing window and thresholds for one video's pre-fill: applied to the
    video's newest run for that coder only, so one coder's settings never move another's."""

    __tablename__ = "prefill_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"))
    coder_id: Mapped[int] = mapped_column(ForeignKey("coders.id"))
    smoothing_window: Mapped[int] = mapped_column(Integer)
    thresholds: Mapped[dict] = mapped_column(JSON)  # AU name → threshold
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)

    __table_args__ = (UniqueConstraint("video_id", "coder_id"),
                      CheckConstraint("smoothing_window >= 1", name="window"))


class Video(Base):
    """One video file, known by its content: moving or renaming it keeps its labels."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    # file stem; Aff-Wild2 label files are matched to videos by it
    name: Mapped[str] = mapped_column(String(255), index=True)
    fps: Mapped[float] = mapped_column(Float)
    frame_count: Mapped[int] = mapped_column(Integer)  # decoded frames, not the container's claim
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)

    __table_args__ = (CheckConstraint("frame_count >= 0", name="frame_count"),)


class Subject(Base):
    """One person of a video: a face track (annotator.processing.landmarks.tracking). Subjects are
    numbered from 1, most seen first; every video has subject 1 (for a video without faces, one
    seen on no frame). Corrections and prediction runs belong to one subject."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"))
    number: Mapped[int] = mapped_column(Integer)
    # frames the face was found on; NULL when not measured (a video registered before tracking)
    frames_seen: Mapped[int | None] = mapped_column(Integer)
    # median x (pixels) of the face-box centre, which tells left from right; NULL when unknown
    centre_x: Mapped[float | None] = mapped_column(Float)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # JPEG face

    __table_args__ = (UniqueConstraint("video_id", "number"),
                      CheckConstraint("number >= 1", name="number"))


class ModelVersion(Base):
    """A network checkpoint; files are never overwritten, so activating one is a row update.

    The row keeps a copy of the checkpoint's bytes, so every host using the database loads the
    same file (db.versions.model_version_file); NULL for a file not readable where the version
    was recorded. The copy is read only when asked for (deferred), never with the row.
    """

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    path: Mapped[str] = mapped_column(Text)  # where it was published, on the host that made it
    checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64))
    au_set: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    parent: Mapped[ModelVersion | None] = relationship(remote_side=[id])

    # at most one active version, enforced by the database itself
    __table_args__ = (
        Index(
            "ix_model_versions_one_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )


class PredictionRun(Base):
    """Per-frame AU probabilities of one predictor on one subject of a video, stored as one
    array."""

    __tablename__ = "prediction_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    # NULL: the landmark-geometry baseline (no checkpoint)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    au_set: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict] = mapped_column(JSON)
    frame_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # the arrays come last: SQLite reads a column after them only by walking their overflow
    # pages (migration 0008)
    # (frame_count, len(AUs)) little-endian float32, C order; NaN rows are no-face frames
    probabilities: Mapped[bytes] = mapped_column(LargeBinary)
    # (frame_count, len(AUs)) int8 pre-fill labels, computed once when the run is stored, so
    # the pre-fill a coder reviewed never changes under them (not even with new smoothing code)
    prefill: Mapped[bytes] = mapped_column(LargeBinary)

    video: Mapped[Video] = relationship()
    subject: Mapped[Subject] = relationship()
    model_version: Mapped[ModelVersion | None] = relationship()


class Edit(Base):
    """One action of a coder on one subject of a video: a correction, an accept, an import, an
    undo, a redo.

    Undo and redo are edits of their own that name the edit they revert or restore
    (`target_edit_id`); nothing is ever deleted, so the history stays complete.
    """

    __tablename__ = "edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"))
    coder_id: Mapped[int] = mapped_column(ForeignKey("coders.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    kind: Mapped[str] = mapped_column(String(10))
    target_edit_id: Mapped[int | None] = mapped_column(ForeignKey("edits.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    coder: Mapped[Coder] = relationship()
    subject: Mapped[Subject] = relationship()
    corrections: Mapped[list[Correction]] = relationship(
        back_populates="edit", order_by="Correction.id"
    )

    __table_args__ = (
        Index("ix_edits_track", "video_id", "coder_id", "subject_id"),
        CheckConstraint(_one_of("kind", EDIT_KINDS), name="kind"),
    )


class Correction(Base):
    """An interval event: frames first..last (inclusive) of one AU set to one value."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    edit_id: Mapped[int] = mapped_column(ForeignKey("edits.id"), index=True)
    au: Mapped[str] = mapped_column(String(8))
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(SmallInteger)

    edit: Mapped[Edit] = relationship(back_populates="corrections")

    __table_args__ = (
        CheckConstraint("first_frame >= 0 AND last_frame >= first_frame", name="frames"),
        CheckConstraint("value IN (-1, 0, 1)", name="value"),
    )


class Job(Base):
    """A long task (processing, fine-tuning) whose progress the UI shows."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    message: Mapped[str] = mapped_column(Text, default="")
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)
    # The process doing the job and the last sign of life it gave: a job whose process is gone
    # (killed, crashed, machine restarted) is found and closed instead of blocking new jobs.
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by whoever wants the job stopped; the job's process sees it and ends as "cancelled".
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Options the job was started with, its progress record and its result (JSON).
    details: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (
        CheckConstraint(_one_of("state", JOB_STATES), name="state"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        Index(
            "ix_jobs_one_exclusive_active",
            "kind",
            unique=True,
            sqlite_where=text(_EXCLUSIVE_ACTIVE),
            postgresql_where=text(_EXCLUSIVE_ACTIVE),
        ),
    )


class Project(Base):
    """A lab's coding project: videos coded in one AU set by its members."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    au_set: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ProjectMember(Base):
    """A coder of a project: an "admin" assigns, reopens and reads reports; a "coder" codes."""

    __tablename__ = "project_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    coder_id: Mapped[int] = mapped_column(ForeignKey("coders.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))

    __table_args__ = (UniqueConstraint("project_id", "coder_id"),
                      CheckConstraint(_one_of("role", PROJECT_ROLES), name="role"))


class ProjectVideo(Base):
    """A video brought into a project (a video may belong to several)."""

    __tablename__ = "project_videos"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    __table_args__ = (UniqueConstraint("project_id", "video_id"),)


class Assignment(Base):
    """A video of a project given to a coder: its "primary" coding, or a "reliability" second
    coding whose labels are compared with the primary's."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"))
    coder_id: Mapped[int] = mapped_column(ForeignKey("coders.id"), index=True)
    role: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    __table_args__ = (UniqueConstraint("project_id", "video_id", "coder_id"),
                      CheckConstraint(_one_of("role", ASSIGNMENT_ROLES), name="role"))


class DoneMark(Base):
    """An assignment marked done (done true) or reopened (false) by a coder; the newest mark
    says whether it is done now, and the marks are its history."""

    __tablename__ = "done_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    done: Mapped[bool] = mapped_column(Boolean)
    by_coder_id: Mapped[int] = mapped_column(ForeignKey("coders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
