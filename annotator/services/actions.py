"""The app's service layer: what a coder does in the app, each action its own transaction.

Labels (set, accept, undo, redo, smoothing and thresholds), the history, export, agreement
between coders, and the model panel's questions (may a fine-tune start, how versions compare).
Labels, history, agreement and the review queue are of one subject (person) of the video:
subject 1 unless named (the subject picker's side is annotator.services.subject_choice). The page
(streamlit_app.py and annotator/ui) only lays out widgets and calls these.

Every function opens a short transaction on the process's sessionmaker (one Session per call,
so Streamlit's threads never share one) and stores the action at once: nothing waits for a
save button, and a reload or crash loses nothing.

Smoothing and thresholds: changing them stores a new prediction run with the same
probabilities and the new parameters (`details["derived_from_run"]` names the run it came
from). The newest run is what the timelines draw, what unreviewed frames export as and what the
next coder sees, so what a coder sees is what exports. Stretches a coder already accepted or
corrected keep the values they were given.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

import db
from annotator.labelfiles.label_io import ExportOptions, export_video
from annotator.learning.finetune_options import FinetuneError, FinetuneOptions
from annotator.processing.prediction import FrameExpression, frame_expression, source_labels
from annotator.services.context import Services
from model.adapt import stretches
from model.au_sets import AU_SETS, NOT_CODED, au_names
from model.metrics import Agreement, agreement_from_counts, confusion_counts
from model.smoothing import smooth_probabilities

VALUE_NAMES = {1: "present", 0: "absent", NOT_CODED: "not codable"}
MODEL = "model (pre-fill)"  # the agreement view's name for the model's side
QUEUE_NEAR = 0.4  # uncertainty falls from 1 at the threshold to 0 this far from it
QUEUE_FLAG = 0.15  # a frame whose expected change reaches this joins a queue stretch
QUEUE_MIN_FRAMES = 3  # shorter uncertain stretches are flicker, not worth a look
QUEUE_MIN_S = 0.25  # stretches shorter than this come only when nothing else is left
PRIOR_SOURCE = "the pre-fill before learning"
METRIC_NAMES = {"abaw2020": "ABAW 2020", "mean_f1": "mean F1"}


@dataclass(frozen=True)
class VideoSummary:
    id: int
    name: str
    path: str
    fps: float
    frame_count: int
    width: int
    height: int


@dataclass(frozen=True)
class ReviewState:
    """Everything the timelines and buttons need for one coder on one video."""

    aus: tuple[str, ...]
    labels: np.ndarray  # (T, K) int8 effective labels
    reviewed: np.ndarray  # (T, K) bool
    prefill: np.ndarray  # (T, K) int8
    face: np.ndarray  # (T,) bool
    run_id: int | None
    thresholds: np.ndarray  # (K,) of the newest run (0.5 without a run)
    smoothing_window: int
    prior_run_id: int | None = None  # set when the newest run learnt from corrections


@dataclass(frozen=True)
class ReviewItem:
    """One stretch of the review queue: where the pre-fill is least sure."""

    au: str
    first_frame: int
    last_frame: int
    reason: str
    score: float  # 0..1, higher first


def register_coder(services: Services, name: str) -> str:
    """Store the coder (created on first use); returns the name as stored."""
    with services.store.write() as session:
        return db.coder_named(session, name).name


def accounts_exist(services: Services) -> bool:
    with services.store.read() as session:
        return db.accounts_exist(session)


def sign_in(services: Services, name: str, password: str) -> tuple[str, bool] | None:
    """(name, is admin) of the account when the password is right; None otherwise."""
    with services.store.write() as session:
        coder = db.signed_in(session, name, password)
        return None if coder is None else (coder.name, bool(coder.is_admin))


def video_summary(services: Services, video_id: int) -> VideoSummary | None:
    with services.store.read() as session:
        video = db.get_video(session, video_id)
        if video is None:
            return None
        return VideoSummary(video.id, video.name, video.path, video.fps, video.frame_count,
                            video.width, video.height)


def processed_videos(services: Services) -> list[VideoSummary]:
    with services.store.read() as session:
        return [
            VideoSummary(v.id, v.name, v.path, v.fps, v.frame_count, v.width, v.height)
            for v in db.processed_videos(session)
        ]


def review_state(services: Services, video_id: int, coder: str, subject: int = 1) -> ReviewState:
    with services.store.read() as session:
        video = db.get_video(session, video_id)
        labels = db.effective_labels(session, video, coder, subject)
        run = labels.run
        prior_id = None
        if run is None or run.au_set != labels.au_set:
            thresholds, window = np.full(len(labels.aus), 0.5, np.float32), 1
        else:
            parameters = run.parameters
            if parameters.predictor == db.ADAPTED:
                prior_id = parameters.run_details.prior_run
            thresholds, window = db.coder_prefill_parameters(parameters, labels.settings)
    return ReviewState(labels.aus, labels.labels, labels.reviewed, labels.prefill, labels.face,
                       labels.run_id, thresholds, window, prior_id)


def learnt_reports(services: Services, run_id: int | None) -> list[dict]:
    """Per-AU reports (model.adapt.AUReport fields) of a run made by learning; [] otherwise."""
    if run_id is None:
        return []
    with services.store.read() as session:
        run = db.get_prediction_run(session, run_id)
        return [] if run is None else list(db.run_parameters(run).run_details.reports)


def run_prefill(services: Services, run_id: int) -> np.ndarray | None:
    """(T, K) int8 pre-fill of a run (None when the run is gone)."""
    with services.store.read() as session:
        run = db.get_prediction_run(session, run_id)
        return None if run is None else db.run_prefill(run)[0]


def review_queue(state: ReviewState, smoothed: np.ndarray, prior_prefill: np.ndarray | None,
                 fps: float, sources: dict[str, np.ndarray] | None = None,
                 limit: int = 20) -> list[ReviewItem]:
    """The unreviewed stretches where a correction is expected to change the pre-fill most,
    best first.

    Per unreviewed face frame and AU, how much a correction there is expected to change:
        change = uncertainty · (1 + disagreement) / 2
    uncertainty: 1 at the threshold, 0 from QUEUE_NEAR away; disagreement: the share of the
    other sources (`sources`: geometry alone, expression alone; the prior's pre-fill when this
    one learnt from corrections) whose label differs from the pre-fill's. A confident pre-fill
    that overrules one source is left alone; a doubtful one that the sources dispute comes
    first. Frames with a change of at least QUEUE_FLAG make stretches (cut to 2 s); a stretch's
    score is its frames' total change, in seconds, so a long disputed stretch comes before a
    short doubtful one, and learning from it moves more. Stretches shorter than QUEUE_MIN_S
    come only when nothing else is left. A correction changes `state`, so the queue follows it."""
    others = dict(sources or {})
    if prior_prefill is not None:
        others[PRIOR_SOURCE] = prior_prefill
    fps = fps or 25.0
    longest, shortest = max(QUEUE_MIN_FRAMES, round(2 * fps)), max(2, round(QUEUE_MIN_S * fps))
    items, short = [], []
    for k, au in enumerate(state.aus):
        open_frames = state.face & ~state.reviewed[:, k]
        with np.errstate(invalid="ignore"):
            uncertainty = np.clip(1 - np.abs(smoothed[:, k] - state.thresholds[k]) / QUEUE_NEAR,
                                  0, 1)
        uncertainty = np.nan_to_num(uncertainty)
        differs = {name: (labels[:, k] != state.prefill[:, k]) & (labels[:, k] != NOT_CODED)
                   for name, labels in others.items()}
        disagreement = (np.mean(list(differs.values()), axis=0) if differs
                        else np.zeros(len(state.face)))
        change = uncertainty * (1 + disagreement) / 2
        for stretch in stretches(np.flatnonzero(open_frames & (change >= QUEUE_FLAG)), longest):
            item = ReviewItem(au, int(stretch[0]), int(stretch[-1]),
                              _queue_reason(stretch, smoothed[:, k], state, k, differs, others),
                              float(change[stretch].sum() / fps))
            (items if len(stretch) >= shortest else short).append(item)
    items.sort(key=lambda item: (-item.score, item.first_frame))
    if not items:  # only flicker is left: show it rather than nothing
        items = sorted(short, key=lambda item: (-item.score, item.first_frame))
    return items[:limit]


def _queue_reason(stretch: np.ndarray, smoothed: np.ndarray, state: ReviewState, k: int,
                  differs: dict[str, np.ndarray], others: dict[str, np.ndarray]) -> str:
    """Why a stretch is in the queue, in a coder's words: the source most at odds with the
    pre-fill there, or the probability's nearness to the threshold."""
    disputed = {name: float(rows[stretch].mean()) for name, rows in differs.items()}
    name = max(disputed, key=disputed.get, default=None)
    if name is not None and disputed[name] >= 0.5:
        says = "present" if (others[name][stretch, k] == 1).mean() >= 0.5 else "absent"
        return f"{name} says {says}"
    return (f"probability near the threshold ({np.nanmean(smoothed[stretch]):.2f} vs "
            f"{state.thresholds[k]:.2f})")


def queue_sources(services: Services, video_id: int, subject: int,
                  state: ReviewState) -> dict[str, np.ndarray]:
    """The labels of each source of the video's cold-start evidence
    (annotator.processing.prediction), for the review queue; {} without a pre-fill or cached
    features."""
    with services.store.read() as session:
        video = db.get_video(session, video_id)
        run = db.latest_prediction_run(session, video_id, subject)
        if video is None or run is None:
            return {}
        parameters, path = db.run_parameters(run), video.path
    if parameters.au_set != au_set_of(state.aus):
        return {}
    return source_labels(path, parameters.run_details.landmark_backend, subject,
                         parameters.au_set, state.smoothing_window)


def expression_at(services: Services, video_id: int, subject: int, frame: int,
                  aus: tuple[str, ...]) -> FrameExpression | None:
    """The expression network's reading of one frame of a subject (None when unknown)."""
    with services.store.read() as session:
        video = db.get_video(session, video_id)
        run = db.latest_prediction_run(session, video_id, subject)
        if video is None or run is None:
            return None
        backend = db.run_parameters(run).run_details.landmark_backend
        path = video.path
    return frame_expression(path, backend, subject, frame, aus)


def video_queue(services: Services, video_id: int, coder: str, subject: int = 1,
                limit: int = 20) -> list[ReviewItem]:
    """The review queue of a coder on one subject of a video, as the app shows it."""
    state = review_state(services, video_id, coder, subject)
    if state.run_id is None:
        return []
    smoothed = smoothed_probabilities(services, state.run_id, state.smoothing_window)
    prior = None if state.prior_run_id is None else run_prefill(services,
                                                                state.prior_run_id)
    fps = video_summary(services, video_id).fps
    return review_queue(state, smoothed, prior, fps,
                        queue_sources(services, video_id, subject, state), limit)


def _coder_parameters(session, video_id: int, coder: str | None,
                      parameters: db.PredictionParameters) -> tuple[np.ndarray, int]:
    """(K,) thresholds and smoothing window the coder sees: their own settings for the video
    over the run's."""
    return db.coder_prefill_parameters(parameters, db.prefill_settings(session, video_id, coder))


def smoothed_probabilities(services: Services, run_id: int, window: int) -> np.ndarray:
    """(T, K) probabilities of a run smoothed over `window` frames (NaN = no face)."""
    with services.store.read() as session:
        run = db.get_prediction_run(session, run_id)
        return smooth_probabilities(db.run_probabilities(run), window)


def start_sign_in(services: Services, name: str, how: str,
                  hours: float) -> tuple[str, db.SignIn]:
    """A sign-in token for the coder (checked by the caller), valid for `hours`."""
    with services.store.write() as session:
        return db.start_sign_in(session, name, how, timedelta(hours=hours))


def signed_in_by_token(services: Services, token: str) -> db.SignIn | None:
    """Who the token signs in now, with their current role; None when it signs nobody in."""
    with services.store.read() as session:
        return db.signed_in_by_token(session, token)


def end_sign_in(services: Services, token: str) -> None:
    with services.store.write() as session:
        db.end_sign_in(session, token)


class NewerPrefill(Exception):
    """The pre-fill changed since the coder's page showed it (learning, a new model version):
    the action is refused, so nobody accepts or corrects what they have not seen."""


def _check_seen(session, video_id: int, seen_run: int | None, subject: int) -> None:
    if seen_run is not None:
        _refuse_newer(db.latest_run_id(session, video_id, subject), seen_run)


def _refuse_newer(latest: int | None, seen_run: int | None) -> None:
    if seen_run is not None and latest is not None and latest != seen_run:
        raise NewerPrefill("Not stored: the pre-fill changed since this page showed it (it "
                           "learnt, or a new model version came in). The page now shows the "
                           "new one; check it and act again.")


def set_label(services: Services, video_id: int, coder: str, aus: tuple[str, ...], first: int,
              last: int, value: int, seen_run: int | None = None, subject: int = 1) -> None:
    """Frames first..last (0-based, inclusive) of each AU become `value` (1, 0 or -1), as one
    edit (one undo takes it back). `seen_run`: the prediction run the coder's page showed;
    NewerPrefill when a newer one exists. Committed with other coders' edits of the moment
    (store.write_together); returns once stored."""
    intervals = [db.Interval(au, first, last, value) for au in aus]
    with services.store.read() as session:
        key = db.track_key(session, video_id, coder, subject)

    def store(session) -> None:
        _check_seen(session, video_id, seen_run, subject)
        if key is None:  # a coder not stored yet: the slower path creates them
            db.record_edit(session, db.get_video(session, video_id), coder, intervals, subject)
        else:
            db.append_edit(session, key, intervals)

    services.store.write_together(store)


STALE = "stale"  # what the write step says when the track changed since the read step
STALE_RETRIES = 3  # then the write step works it out itself (another tab keeps editing)


def accept_prefill(services: Services, video_id: int, coder: str, aus: tuple[str, ...],
                   first: int, last: int, seen_run: int | None = None,
                   subject: int = 1) -> bool:
    """Mark the pre-fill of first..last reviewed, as the run `seen_run` shows it (NewerPrefill
    when a newer run exists); False when all of it already was reviewed.

    What to store is worked out in a read transaction, so the write step (which other coders'
    edits share) only checks that nothing it depends on changed, and stores; when something
    did, it is worked out again."""
    for _ in range(STALE_RETRIES):
        with services.store.read() as session:
            key = db.track_key(session, video_id, coder, subject)
            if key is None:
                break
            version = db.track_version(session, key)
            _refuse_newer(version.run_id, seen_run)
            intervals = db.accept_intervals(session, db.get_video(session, video_id), coder,
                                            first, last, tuple(aus), subject)
        if not intervals:  # all of it reviewed when the page's run was checked: nothing to store
            return False

        def store(session, key=key, version=version, intervals=intervals) -> bool | str:
            # the version holds the newest run: a newer one makes the read step again, which
            # refuses it (NewerPrefill)
            if db.track_version(session, key) != version:
                return STALE
            db.append_edit(session, key, intervals, "accept")
            return True

        outcome = services.store.write_together(store)
        if outcome != STALE:
            return outcome

    def work_out_and_store(session) -> bool:
        _check_seen(session, video_id, seen_run, subject)
        return db.accept_prefill(session, db.get_video(session, video_id), coder, first, last,
                                 tuple(aus), subject) is not None

    return services.store.write_together(work_out_and_store)


def undo(services: Services, video_id: int, coder: str, subject: int = 1) -> bool:
    return _undo_or_redo(services, video_id, coder, subject, "undo")


def redo(services: Services, video_id: int, coder: str, subject: int = 1) -> bool:
    return _undo_or_redo(services, video_id, coder, subject, "redo")


def _undo_or_redo(services: Services, video_id: int, coder: str, subject: int,
                  kind: str) -> bool:
    """The edit to revert (restore) is found reading; the write step only checks that the
    track has no newer edit (another tab of the coder) and stores the marker."""
    with services.store.read() as session:
        key = db.track_key(session, video_id, coder, subject)
        if key is not None:
            newest = db.newest_edit_id(session, key)
            target = db.undo_target(session, key, kind)
            if target is None:  # nothing to undo (redo) as the track stood: nothing to store
                return False

    def store(session) -> bool:
        if key is None or db.newest_edit_id(session, key) != newest:
            step = db.undo if kind == "undo" else db.redo
            return step(session, db.get_video(session, video_id), coder, subject) is not None
        db.append_edit(session, key, (), kind, target)
        return True

    return services.store.write_together(store)


def set_prefill_parameters(services: Services, video_id: int, coder: str, window: int,
                           thresholds: dict[str, float], subject: int = 1) -> bool:
    """The coder's own smoothing window and thresholds for the video (AUs not named keep
    theirs); False when the pre-fill of the subject shown would not change. Only what the
    coder set is stored, so every subject's run keeps its own thresholds elsewhere. Other
    coders' pre-fill is untouched."""
    with services.store.write() as session:
        run = db.latest_prediction_run(session, video_id, subject)
        if run is None:
            return False
        parameters = db.run_parameters(run)
        current, current_window = _coder_parameters(session, video_id, coder, parameters)
        settings = db.prefill_settings(session, video_id, coder)
        own = {**(settings.thresholds if settings else {}),
               **{au: float(value) for au, value in thresholds.items()}}
        shown = [own.get(au, float(value))
                 for au, value in zip(au_names(parameters.au_set), current, strict=True)]
        if window == current_window and np.allclose(shown, current):
            return False
        db.set_prefill_settings(session, video_id, coder, int(window), own)
        return True


def history_table(services: Services, video_id: int, subject: int | None = None) -> pd.DataFrame:
    """The video's corrections (of one subject, when given), newest first, as a coder reads
    them."""
    with services.store.read() as session:
        rows = db.history(session, video_id, subject)
    return pd.DataFrame(
        [
            {
                "time": row.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                "coder": row.coder,
                "action": row.kind if row.target_edit_id is None
                else f"{row.kind} of #{row.target_edit_id}",
                "edit": row.edit_id,
                "AU": row.au or "",
                "frames": "" if row.first_frame is None
                else f"{row.first_frame}–{row.last_frame}",
                "value": VALUE_NAMES.get(row.value, "") if row.value is not None else "",
                "undone": row.undone,
            }
            for row in reversed(rows)
        ],
        columns=["time", "coder", "action", "edit", "AU", "frames", "value", "undone"],
    )


def export_files(services: Services, video_id: int, coder: str, file_format: str,
                 unreviewed: str = "prefill", subject: int | None = None,
                 ) -> list[tuple[str, bytes]]:
    """(file name, content) of the coder's export: one file per subject with a pre-fill or the
    coder's labels (or only `subject`), named as annotator.labelfiles.label_io says; written for a
    download, so an ELAN file links the video by its file name, not the temporary folder."""
    with tempfile.TemporaryDirectory() as folder, \
            services.store.read() as session:
        video = db.get_video(session, video_id)
        options = ExportOptions(file_format, coder, unreviewed, subject=subject, download=True)
        return [(p.name, p.read_bytes()) for p in export_video(session, video, folder, options)]


def video_coders(services: Services, video_id: int) -> list[str]:
    with services.store.read() as session:
        return sorted({track.coder for track in db.tracks(session, video_id)})


def agreement_table(services: Services, video_id: int, first: str, second: str,
                    subject: int = 1) -> pd.DataFrame:
    """Per-AU Cohen's kappa and F1 between two coders, or a coder and the model (`MODEL`),
    over the frames of one subject both labelled."""
    with services.store.read() as session:
        video = db.get_video(session, video_id)
        au_set = db.effective_labels(session, video, None, subject).au_set
        agreement = coder_agreement(session, [video], first, None if second == MODEL else second,
                                    au_set, subject)
    table = pd.DataFrame(agreement.as_dict()).T
    table["frames"] = table["frames"].astype(int)
    return table.rename_axis("AU")


def coder_agreement(
    session: db.Session,
    videos: list[db.Video],
    first_coder: str,
    second_coder: str | None,
    au_set: str,
    subject: int = 1,
) -> Agreement:
    """Agreement over the given videos; second_coder None compares with the model's pre-fill."""
    aus = au_names(au_set)
    counts = np.zeros((len(aus), 4), dtype=np.int64)
    for video in videos:
        first = _labelled(session, video, first_coder, subject, au_set)
        second = _labelled(session, video, second_coder, subject, au_set)
        counts += confusion_counts(first, second)
    return agreement_from_counts(aus, counts)


def _labelled(session, video, coder, subject, au_set) -> np.ndarray:
    labels = db.effective_labels(session, video, coder, subject, au_set)
    if coder is None:
        return labels.prefill
    return np.where(labels.reviewed, labels.labels, NOT_CODED)


def finetune_refusal(services: Services, options: FinetuneOptions) -> str | None:
    """Why a fine-tune with `options` cannot run now (too few reviewed videos...), else None.

    The job's own process would find the same and fail; asking first keeps a doomed job out of
    the jobs table and tells the coder at once."""
    from annotator.learning.finetuning import plan_finetune  # torch: only when asked

    try:
        with services.store.write() as session:
            plan_finetune(session, options)
    except FinetuneError as error:
        return str(error)
    return None


def au_set_of(aus: tuple[str, ...]) -> str | None:
    """The name of the AU set whose AUs these are (None when none is)."""
    return next((name for name in AU_SETS if au_names(name) == tuple(aus)), None)
