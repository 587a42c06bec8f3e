"""Adapting a stored pre-fill ("Learn from my corrections", `au-annotator adapt`): reads a
subject's prior run and reviewed frames from the database, hands them to the in-video learner
(model.adapt.InVideoAdaptation) with every other reviewed subject in the database (other
videos, other people of this one) as support, and stores what it learnt as a new prediction run
of that subject. Each subject learns from its own face's descriptors and its own labels only.

The prior is the subject's newest run not made by adaptation (the active predictor's pre-fill,
with any smoothing or thresholds a coder set); adapting again always starts from it, never from
an earlier adaptation. Reviewed frames keep their labels whatever the new run says (effective
labels put corrections first). Older adapted runs are superseded and pruned.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

import db
from annotator.processing.extraction import cached_descriptors, descriptors_for_video
from annotator.services.context import Services
from model.adapt import AdaptedPrediction, AUReport, InVideoAdaptation, VideoReview
from model.au_sets import NOT_CODED, au_names
from model.errors import InputError
from model.learners import Progress, no_progress
from model.predictors import RecordedPrediction

logger = logging.getLogger(__name__)

SUPPORT_ROWS = 2000  # reviewed frames taken from each other subject, at most


class AdaptationError(Exception):
    """Adapting cannot run as asked (no such video, not processed); the message says why."""


@dataclass(frozen=True)
class SubjectAdaptation:
    """What one subject's pre-fill learnt."""

    subject: int
    run_id: int | None  # the stored run; None when nothing was stored (nothing to learn yet)
    prior_run_id: int
    reports: list[AUReport]

    @property
    def adapted_aus(self) -> list[str]:
        return [report.au for report in self.reports if report.adapted]


@dataclass(frozen=True)
class AdaptationResult:
    video_id: int
    subjects: list[SubjectAdaptation]  # by subject number
    seconds: float

    @property
    def adapted_aus(self) -> list[str]:
        """The AUs learnt; named with their subject when the video has several adapted."""
        several = len(self.subjects) > 1
        return [f"{au} (subject {done.subject})" if several else au
                for done in self.subjects for au in done.adapted_aus]


@dataclass
class _Plan:
    video: db.Video
    subject: int
    prior_id: int
    probabilities: np.ndarray
    parameters: db.PredictionParameters
    model_version_id: int | None
    labels: np.ndarray  # (T, K) this subject's reviewed labels (coders merged)
    support: list[tuple[str, int, np.ndarray]]  # (video path, subject, (T, K) reviewed labels)
    latest_is_adapted: bool

    def prior(self, backend: str) -> RecordedPrediction:
        """The prior run as the learner's prior: its probabilities and post-processing."""
        parameters = self.parameters
        return RecordedPrediction(
            parameters.au_set, parameters.predictor, self.probabilities,
            parameters.threshold_array(), parameters.smoothing_window, parameters.hold_frames,
            backend, str(parameters.details.get("version", "")), parameters.details)


def adapt_video(services: Services, video_id: int, coder: str | None = None,
                subject: int | None = None) -> AdaptationResult:
    """Adapt the pre-fill of one subject of a video (None: of every subject with reviewed
    frames or a pre-fill learnt before; subject 1 when there is none) to its reviewed frames
    (of `coder`, or of every coder)."""
    return adapt_subjects(services.store, video_id, coder, subject)


def adapt_subjects(store: db.Store, video_id: int, coder: str | None = None,
                   subject: int | None = None,
                   progress: Progress = no_progress) -> AdaptationResult:
    """adapt_video on the database `store`, telling `progress` (model.learners) as
    each AU is learnt; when it asks to stop, LearningCancelled is raised before the subject
    being learnt stores anything."""
    started = time.perf_counter()
    with store.write() as session:
        chosen = [subject] if subject is not None else _subjects_to_adapt(session, video_id,
                                                                            coder)
        plans = [_plan(session, video_id, number, coder) for number in chosen]
    done = [_adapt_subject(store, plan, coder, progress) for plan in plans]
    seconds = time.perf_counter() - started
    result = AdaptationResult(video_id, done, seconds)
    logger.info("adapted video %d in %.2f s: %s", video_id, seconds, result.adapted_aus)
    return result


def _subjects_to_adapt(session, video_id: int, coder: str | None) -> list[int]:
    video = db.get_video(session, video_id)
    if video is None:
        raise AdaptationError(f"no video {video_id} in this database")
    prefilled = db.prefilled_subjects(session, video_id)
    reviewed = {t.subject for t in db.tracks(session, video_id)
                if coder is None or t.coder == coder}
    learnt = {n for n in prefilled
              if db.latest_prediction_run(session, video_id, n).parameters.get("predictor")
              == db.ADAPTED}
    return sorted((reviewed | learnt) & prefilled) or [1]


def _adapt_subject(store: db.Store, plan: _Plan, coder: str | None,
                   progress: Progress) -> SubjectAdaptation:
    backend = plan.parameters.run_details.landmark_backend
    descriptors = descriptors_for_video(plan.video.path, backend, subject=plan.subject)
    if len(descriptors) != plan.video.frame_count:
        raise InputError(plan.video.path, f"decodes {len(descriptors)} frames, the database has "
                                          f"{plan.video.frame_count}; process it again")
    reviewed = VideoReview(descriptors.appearance, descriptors.shape_and_expression(),
                           descriptors.face, plan.labels, plan.video.fps,
                           _support(plan.support, backend))
    adaptation = InVideoAdaptation().fit(reviewed, plan.prior(backend), progress)
    run_id = None
    with store.write() as session:
        video = db.get_video(session, plan.video.id)
        if adaptation.learnt_aus:
            parameters = _adapted_parameters(plan, adaptation, coder)
            run_id = db.store_prediction_run(session, video, adaptation.predictor.probabilities,
                                             parameters, plan.model_version_id, plan.subject).id
        elif plan.latest_is_adapted:  # nothing left to learn: back to the prior's pre-fill
            run_id = db.store_prediction_run(session, video, plan.probabilities, plan.parameters,
                                             plan.model_version_id, plan.subject).id
        db.prune_adapted_runs(session, video.id, plan.subject)
    return SubjectAdaptation(plan.subject, run_id, plan.prior_id, adaptation.reports)


def _plan(session, video_id: int, subject: int, coder: str | None) -> _Plan:
    video = db.get_video(session, video_id)
    if video is None:
        raise AdaptationError(f"no video {video_id} in this database")
    prior = db.prior_run(session, video_id, subject)
    if prior is None:
        raise AdaptationError(f"subject {subject} of video {video_id} ({video.name}) has no "
                              "pre-fill yet; process the video first (au-annotator process "
                              "VIDEO), or choose the subject in the app")
    latest = db.latest_prediction_run(session, video_id, subject)
    reviewed = db.reviewed_labels(session, prior.au_set, coder)
    mine = [(other.id, number) == (video_id, subject) for other, _, number, _ in reviewed]
    here = [labels for (_, _, _, labels), own in zip(reviewed, mine, strict=True) if own]
    aus = au_names(prior.au_set)
    labels = _merge(here, (video.frame_count, len(aus)))
    support = [(other.path, number, labels)
               for (other, _, number, labels), own in zip(reviewed, mine, strict=True) if not own]
    return _Plan(video, subject, prior.id, db.run_probabilities(prior),
                 db.run_parameters(prior), prior.model_version_id, labels, support,
                 latest.parameters.get("predictor") == db.ADAPTED)


def _merge(per_coder: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """One (T, K) label array from several coders': where they disagree, no label (-1)."""
    merged = np.full(shape, NOT_CODED, np.int8)
    for labels in per_coder:
        unset = merged == NOT_CODED
        clash = ~unset & (labels != NOT_CODED) & (labels != merged)
        merged = np.where(unset, labels, merged)
        merged[clash] = NOT_CODED
    return merged


def _support(subjects: list[tuple[str, int, np.ndarray]], backend: str) -> list[tuple]:
    """Other subjects' reviewed frames as (appearance, geometry, median appearance, labels); a
    subject whose descriptors are not cached (or whose file moved) is left out, not
    recomputed."""
    support = []
    for path, subject, labels in subjects:
        descriptors = cached_descriptors(Path(path), backend, subject=subject)
        if descriptors is None or len(descriptors) != len(labels):
            logger.info("%s: no cached descriptors; not used as support", path)
            continue
        rows = np.flatnonzero((labels != NOT_CODED).any(axis=1) & descriptors.face)
        if len(rows) > SUPPORT_ROWS:
            rows = rows[np.linspace(0, len(rows) - 1, SUPPORT_ROWS).round().astype(int)]
        faces = np.flatnonzero(descriptors.face)
        sample = faces[:: max(1, len(faces) // 2000)]
        median = np.median(descriptors.appearance[sample].astype(np.float32), axis=0)
        support.append((descriptors.appearance[rows],
                        descriptors.shape_and_expression()[rows], median, labels[rows]))
    return support


def _adapted_parameters(plan: _Plan, adaptation: AdaptedPrediction,
                        coder: str | None) -> db.PredictionParameters:
    """The prior run's parameters, as the adapted predictor post-processes, with how it was
    learnt."""
    adapted = adaptation.predictor
    aus = au_names(adapted.au_set)
    details = {
        **plan.parameters.details,
        "prior_run": plan.prior_id,
        "prior_predictor": plan.parameters.predictor,
        "coder": coder,
        "reports": [asdict(report) for report in adaptation.reports],
    }
    return replace(plan.parameters, predictor=adapted.kind, details=details,
                   thresholds={au: float(t) for au, t in zip(aus, adapted.thresholds, strict=True)},
                   smoothing_window=adapted.smoothing_window, hold_frames=adapted.hold_frames)


def format_reports(result: SubjectAdaptation) -> list[str]:
    """The lines `au-annotator adapt` prints for a subject: one per AU with what was used and
    estimated."""
    return [f"{report.au:5} {describe_report(report, 6)}" for report in result.reports]


def describe_report(report: AUReport, width: int = 0) -> str:
    """What learning did with one AU and why, in the command's words (the page shows the same
    sentence, so a coder and the command line read one account); `width` lines the frame
    counts up in a terminal."""
    line = (f"reviewed {report.reviewed_frames:{width}} frames "
            f"(+{report.support_frames} from other subjects): {report.reason}")
    if report.cv_agreement is not None:
        line += (f"; cross-validated on {report.cv_frames} frames: adapted "
                 f"{report.cv_agreement:.3f}, prior {report.cv_agreement_prior:.3f}")
    if report.adapted:
        line += f"; {report.changed_frames} unreviewed frames changed"
    return line
