"""Effective labels: the model's pre-fill overlaid with one coder's corrections, and the
questions asked of them (reviewed frames for fine-tuning, fully reviewed videos).

Labels belong to one subject (person) of a video, subject 1 unless named. For each frame and AU
the effective label is the value of the newest active (not undone) correction of that coder on
that subject covering it, else the pre-fill of the subject's latest prediction run (smoothed and
thresholded; -1 on frames without the subject's face, and everywhere when the subject has no
run). `reviewed` marks the frames and AUs some active correction covers; a reviewed -1 means the
coder decided the frame cannot be coded.

"Accept the pre-fill as reviewed" is stored as ordinary interval events holding the pre-fill
values (an edit of kind "accept"), so an accepted stretch keeps the values the coder saw even
when a later model run would pre-fill it differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.coders import prefill_settings
from db.corrections import (
    Interval,
    TrackKey,
    intervals_from_labels,
    newest_edit_id,
    record_edit,
)
from db.painted_tracks import painted_track, settings_key
from db.subjects import subject_row
from db.tables import Coder, Edit, PredictionRun, PrefillSettings, Subject, Video
from db.videos import RunSummary, latest_run_summary, run_prefill, stored_prefill
from model.au_sets import AU_SETS, DEFAULT_AU_SET, NOT_CODED, au_names


@dataclass(frozen=True)
class EffectiveLabels:
    au_set: str
    labels: np.ndarray  # (T, K) int8: what the coder's export and fine-tuning see
    reviewed: np.ndarray  # (T, K) bool: covered by one of the coder's active corrections
    prefill: np.ndarray  # (T, K) int8: the latest run's pre-fill (-1 without a run or a face)
    face: np.ndarray  # (T,) bool: the latest run found a face (all True without a run)
    run_id: int | None
    # what they were worked out from, for a caller that needs it too (a page's redraw)
    run: RunSummary | None = field(default=None, compare=False, repr=False)
    settings: PrefillSettings | None = field(default=None, compare=False, repr=False)

    @property
    def aus(self) -> tuple[str, ...]:
        return au_names(self.au_set)


def effective_labels(
    session: Session,
    video: Video,
    coder: str | None,
    subject: int = 1,
    au_set: str | None = None,
    frames: slice | None = None,
) -> EffectiveLabels:
    """The labels one coder sees for one subject of a video (coder None: the model's pre-fill
    alone). The pre-fill follows the coder's own smoothing window and thresholds for the video,
    if set. `frames` (a slice with a start and a stop): only those frames, rows 0.. of the arrays
    (accepting a stretch needs no more, and a 30-minute video is 54,000 rows).

    au_set defaults to the latest run's, unless the coder's corrections use AUs outside it (then
    the AU set that holds them all). Corrections of AUs outside the AU set are left out.
    """
    run = latest_run_summary(session, video.id, subject)
    subject_id = subject_row(session, video.id, subject).id
    preferred = run.au_set if run is not None else DEFAULT_AU_SET
    settings = prefill_settings(session, video.id, coder) if run is not None else None
    coder_id = _coder_id(session, coder)
    frames = frames or slice(0, video.frame_count)
    if coder_id is None:  # the pre-fill alone: nothing reviewed
        au_set = au_set or preferred
        prefill, face = _prefill(session, run, settings, au_names(au_set), frames)
        return EffectiveLabels(au_set, prefill.copy(), np.zeros(prefill.shape, dtype=bool),
                               prefill, face, run.id if run else None, run, settings)

    def choose(used: frozenset[str]) -> tuple[str, tuple[str, ...]]:
        name = au_set or _au_set_of(used, preferred)
        return name, au_names(name)

    key = (session.get_bind().url.render_as_string(), video.id, coder_id, subject_id, au_set,
           None if run is None else (run.id, run.created_at), settings_key(settings))
    track = painted_track(
        session, key, (video.id, coder_id, subject_id),
        lambda aus: _prefill(session, run, settings, aus, slice(0, video.frame_count)), choose)
    return EffectiveLabels(track.au_set, track.labels[frames].copy(),
                           track.reviewed[frames].copy(), track.prefill[frames].copy(),
                           track.face[frames].copy(), run.id if run else None, run, settings)


def accept_prefill(
    session: Session,
    video: Video,
    coder: str,
    first_frame: int,
    last_frame: int,
    aus: tuple[str, ...] | None = None,
    subject: int = 1,
) -> Edit | None:
    """Mark the unreviewed frames first..last of `aus` (default: all) as reviewed, keeping the
    pre-fill values; frames the coder already corrected keep their corrections. None when
    everything in range was already reviewed."""
    intervals = accept_intervals(session, video, coder, first_frame, last_frame, aus, subject)
    if not intervals:
        return None
    return record_edit(session, video, coder, intervals, subject, kind="accept")


def accept_intervals(session: Session, video: Video, coder: str, first_frame: int,
                     last_frame: int, aus: tuple[str, ...] | None = None,
                     subject: int = 1) -> list[Interval]:
    """What accepting the pre-fill of first..last would store: the pre-fill of the coder's
    unreviewed frames, as interval events. Computed before the write transaction, it stays
    right while `track_version` is unchanged."""
    current = effective_labels(session, video, coder, subject,
                               frames=slice(first_frame, last_frame + 1))
    chosen = [k for k, au in enumerate(current.aus) if aus is None or au in aus]
    return intervals_from_labels(
        current.prefill[:, chosen],
        tuple(current.aus[k] for k in chosen),
        mask=~current.reviewed[:, chosen],
        first_frame=first_frame,
    )


class TrackVersion(NamedTuple):
    """What one coder sees of one subject was worked out from these; any change, and it may
    differ."""

    newest_edit: int | None
    run_id: int | None  # the subject's newest prediction run
    settings_time: datetime | None  # when the coder last set their smoothing and thresholds


def track_version(session: Session, key: TrackKey) -> TrackVersion:
    """The track's version now: three indexed reads by the key's ids."""
    return TrackVersion(
        newest_edit_id(session, key),
        session.scalar(select(PredictionRun.id).where(PredictionRun.subject_id == key.subject_id)
                       .order_by(PredictionRun.id.desc()).limit(1)),
        session.scalar(select(PrefillSettings.updated_at).where(
            PrefillSettings.video_id == key.video_id, PrefillSettings.coder_id == key.coder_id)))


def _prefill(session: Session, run: RunSummary | None, settings: PrefillSettings | None,
             aus: tuple[str, ...], frames: slice) -> tuple[np.ndarray, np.ndarray]:
    """(T, K) pre-fill of `aus` over `frames` (the coder's `settings` if any) and the (T,)
    face mask: -1 and all True without a run."""
    prefill = np.full((frames.stop - frames.start, len(aus)), NOT_CODED, dtype=np.int8)
    face = np.ones(len(prefill), dtype=bool)
    if run is None:
        return prefill, face
    if settings is None:
        run_labels, face = stored_prefill(session, run)
    else:
        run_labels, face = run_prefill(session.get(PredictionRun, run.id), settings)
    run_labels, face = run_labels[frames], face[frames].copy()
    run_aus = au_names(run.au_set)
    for k, au in enumerate(aus):
        if au in run_aus:
            prefill[:, k] = run_labels[:, run_aus.index(au)]
    return prefill, face


def _coder_id(session: Session, coder: str | None) -> int | None:
    return None if coder is None else session.scalar(select(Coder.id).where(Coder.name == coder))


def _au_set_of(used: set[str] | frozenset[str], preferred: str) -> str:
    """`preferred` (the run's) if it holds every AU `used`, else the first set that does
    (imported 12-AU labels stay 12-AU on a video pre-filled with 8)."""
    for name in (preferred, *AU_SETS):
        if used <= set(AU_SETS[name]):
            return name
    return preferred


def reviewed_labels(
    session: Session, au_set: str, coder: str | None = None, video_ids: tuple[int, ...] = (),
) -> list[tuple[Video, str, int, np.ndarray]]:
    """(video, coder, subject, (T, K) int8 labels) for every (video, coder, subject) with
    reviewed 0/1 labels of `au_set`, by video id, subject, then coder. Unreviewed pairs and
    reviewed -1 ("cannot be coded") are -1."""
    query = (
        select(Video, Coder.name, Subject.number)
        .join(Edit, Edit.video_id == Video.id)
        .join(Coder, Coder.id == Edit.coder_id)
        .join(Subject, Subject.id == Edit.subject_id)
        .distinct()
        .order_by(Video.id, Subject.number, Coder.name)
    )
    if coder is not None:
        query = query.where(Coder.name == coder)
    if video_ids:
        query = query.where(Video.id.in_(video_ids))
    found = []
    for video, name, subject in session.execute(query).all():
        current = effective_labels(session, video, name, subject, au_set)
        labels = np.where(current.reviewed, current.labels, NOT_CODED).astype(np.int8)
        if (labels != NOT_CODED).any():
            found.append((video, name, subject, labels))
    return found


def fully_reviewed(session: Session, video_id: int, au_set: str, subject: int = 1) -> bool:
    """Every coder working on the subject reviewed all its frames and AUs (and there is one)."""
    coders = session.scalars(
        select(Coder.name).join(Edit, Edit.coder_id == Coder.id)
        .where(Edit.video_id == video_id,
               Edit.subject_id == subject_row(session, video_id, subject).id).distinct()
    ).all()
    video = session.get(Video, video_id)
    return bool(coders) and all(
        effective_labels(session, video, coder, subject, au_set).reviewed.all()
        for coder in coders
    )
