"""Registering videos and finding them again (by content hash, id or file name)."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Video

logger = logging.getLogger(__name__)


def register_video(
    session: Session,
    *,
    content_hash: str,
    path: str | Path,
    fps: float,
    frame_count: int,
    width: int,
    height: int,
) -> Video:
    """The row for this content, created if new; a moved or renamed file updates path and name.

    `frame_count` is the number of decoded frames (containers often claim another number).
    """
    path = Path(path)
    video = session.scalar(select(Video).where(Video.content_hash == content_hash))
    if video is None:
        video = Video(
            content_hash=content_hash,
            path=str(path),
            name=path.stem,
            fps=float(fps),
            frame_count=int(frame_count),
            width=int(width),
            height=int(height),
        )
        session.add(video)
        session.flush()
        logger.info("registered video %d: %s (%d frames)", video.id, path, frame_count)
    elif video.path != str(path):
        logger.info("video %d moved: %s -> %s", video.id, video.path, path)
        video.path, video.name = str(path), path.stem
    return video


def get_video(session: Session, video_id: int) -> Video | None:
    return session.get(Video, video_id)


def videos_named(session: Session, name: str) -> list[Video]:
    """Videos whose file stem is `name` (several when different files share a name)."""
    return list(session.scalars(select(Video).where(Video.name == name).order_by(Video.id)))


def list_videos(session: Session) -> list[Video]:
    return list(session.scalars(select(Video).order_by(Video.id)))
