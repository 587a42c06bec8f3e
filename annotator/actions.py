"""The app's service layer: what a coder does in the app, each action its own transaction.

Labels (set, accept, undo, redo, smoothing and thresholds), the history, export, agreement
between coders, and the model panel's questions (may a fine-tune start, how versions compare).
The page (streamlit_app.py and annotator/ui) only lays out widgets and calls these.

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
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

import db
from annotator.finetune import FinetuneError, FinetuneOptions, VersionComparison
from annotator.finetune.training import plan_finetune
from annotator.label_io import ExportOptions, export_video
from model.adapt import stretches
from model.checkpoint import version_label
from model.formats import NOT_CODED, au_names
from model.metrics import Agreement, agreement_from_counts, confusion_counts
from model.smoothing import smooth_probabilities

VALUE_NAMES = {1: "present", 0: "absent", NOT_CODED: "not codable"}
MODEL = "model (pre-fill)"  # the agreement view's name for the model's side
QUEUE_NEAR = 0.15  # a smoothed probability this close to its threshold is uncertain
QUEUE_MIN_FRAMES = 3  # shorter uncertain stretches are flicker, not worth a look
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


def register_coder(database_url: str, name: str) -> str:
    """Store the coder (created on first use); returns the name as stored."""
    with db.open_database(database_url).begin() as session:
        return db.coder_named(session, name).name


def video_summary(database_url: str, video_id: int) -> VideoSummary | None:
    with db.open_database(database_url).begin() as session:
        video = db.get_video(session, video_id)
        if video is None:
            return None
        return VideoSummary(video.id, video.name, video.path, video.fps, video.frame_count,
                            video.width, video.height)


def processed_videos(database_url: str) -> list[VideoSummary]:
    with db.open_database(database_url).begin() as session:
        return [
            VideoSummary(v.id, v.name, v.path, v.fps, v.frame_count, v.width, v.height)
            for v in db.processed_videos(session)
        ]


def review_state(database_url: str, video_id: int, coder: str) -> ReviewState:
    with db.open_database(database_url).begin() as session:
        video = db.get_video(session, video_id)
        labels = db.effective_labels(session, video, coder)
        run = db.latest_prediction_run(session, video_id)
        prior_id = None
        if run is None or run.au_set != labels.au_set:
            thresholds, window = np.full(len(labels.aus), 0.5, np.float32), 1
        else:
            parameters = db.run_parameters(run)
            thresholds, window = parameters.threshold_array(), parameters.smoothing_window
            if parameters.predictor == db.ADAPTED:
                prior_id = parameters.details.get("prior_run")
    return ReviewState(labels.aus, labels.labels, labels.reviewed, labels.prefill, labels.face,
                       labels.run_id, thresholds, window, prior_id)


def learnt_reports(database_url: str, run_id: int | None) -> list[dict]:
    """Per-AU reports (model.adapt.AUReport fields) of a run made by learning; [] otherwise."""
    if run_id is None:
        return []
    with db.open_database(database_url).begin() as session:
        run = db.get_prediction_run(session, run_id)
        return [] if run is None else list(run.parameters.get("details", {}).get("reports", []))


def run_prefill(database_url: str, run_id: int) -> np.ndarray | None:
    """(T, K) int8 pre-fill of a run (None when the run is gone)."""
    with db.open_database(database_url).begin() as session:
        run = db.get_prediction_run(session, run_id)
        return None if run is None else db.run_prefill(run)[0]


def review_queue(state: ReviewState, smoothed: np.ndarray, prior_prefill: np.ndarray | None,
                 fps: float, limit: int = 20) -> list[ReviewItem]:
    """The unreviewed stretches most worth a coder's look, best first: where the smoothed
    probability is near its AU's threshold, or where the pre-fill that learnt from corrections
    and its prior disagree. Stretches are cut to at most 2 s; a correction changes `state`, so
    the queue follows it."""
    items = []
    for k, au in enumerate(state.aus):
        open_frames = state.face & ~state.reviewed[:, k]
        with np.errstate(invalid="ignore"):
            distance = np.abs(smoothed[:, k] - state.thresholds[k])
        near = open_frames & (distance < QUEUE_NEAR)
        disagree = np.zeros_like(near)
        if prior_prefill is not None:
            disagree = open_frames & (prior_prefill[:, k] != state.prefill[:, k])
        flagged = np.flatnonzero(near | disagree)
        for stretch in stretches(flagged, max(QUEUE_MIN_FRAMES, round(2 * (fps or 25)))):
            if len(stretch) < QUEUE_MIN_FRAMES:
                continue
            closeness = float(np.mean(np.where(near[stretch],
                                               1 - distance[stretch] / QUEUE_NEAR, 0)))
            disagreement = float(disagree[stretch].mean())
            if disagreement >= closeness:
                reason = "learnt pre-fill and its prior disagree"
            else:
                reason = (f"probability near the threshold ({np.nanmean(smoothed[stretch, k]):.2f}"
                          f" vs {state.thresholds[k]:.2f})")
            items.append(ReviewItem(au, int(stretch[0]), int(stretch[-1]), reason,
                                    max(closeness, disagreement)))
    items.sort(key=lambda item: (-item.score, item.first_frame))
    return items[:limit]


def smoothed_probabilities(database_url: str, run_id: int) -> np.ndarray:
    """(T, K) probabilities of a run, smoothed with the run's own window (NaN = no face)."""
    with db.open_database(database_url).begin() as session:
        run = db.get_prediction_run(session, run_id)
        window = db.run_parameters(run).smoothing_window
        return smooth_probabilities(db.run_probabilities(run), window)


def set_label(database_url: str, video_id: int, coder: str, aus: tuple[str, ...], first: int,
              last: int, value: int) -> None:
    """Frames first..last (0-based, inclusive) of each AU become `value` (1, 0 or -1), as one
    edit (one undo takes it back)."""
    with db.open_database(database_url).begin() as session:
        intervals = [db.Interval(au, first, last, value) for au in aus]
        db.record_edit(session, db.get_video(session, video_id), coder, intervals)


def accept_prefill(database_url: str, video_id: int, coder: str, aus: tuple[str, ...],
                   first: int, last: int) -> bool:
    """Mark the pre-fill of first..last reviewed; False when all of it already was."""
    with db.open_database(database_url).begin() as session:
        video = db.get_video(session, video_id)
        return db.accept_prefill(session, video, coder, first, last, tuple(aus)) is not None


def undo(database_url: str, video_id: int, coder: str) -> bool:
    with db.open_database(database_url).begin() as session:
        return db.undo(session, db.get_video(session, video_id), coder) is not None


def redo(database_url: str, video_id: int, coder: str) -> bool:
    with db.open_database(database_url).begin() as session:
        return db.redo(session, db.get_video(session, video_id), coder) is not None


def set_prefill_parameters(database_url: str, video_id: int, window: int,
                           thresholds: dict[str, float]) -> int | None:
    """Store a new run re-using the newest run's probabilities with this smoothing window and
    these thresholds (AUs not named keep theirs); returns its id (None: nothing changed)."""
    with db.open_database(database_url).begin() as session:
        run = db.latest_prediction_run(session, video_id)
        if run is None:
            return None
        old = db.run_parameters(run)
        new_thresholds = {**old.thresholds, **{k: float(v) for k, v in thresholds.items()}}
        if window == old.smoothing_window and new_thresholds == old.thresholds:
            return None
        parameters = replace(old, thresholds=new_thresholds, smoothing_window=int(window),
                             details={**old.details, "derived_from_run": run.id})
        new_run = db.store_prediction_run(session, db.get_video(session, video_id),
                                          db.run_probabilities(run), parameters,
                                          run.model_version_id)
        return new_run.id


def history_table(database_url: str, video_id: int) -> pd.DataFrame:
    """The video's corrections, newest first, as a coder reads them."""
    with db.open_database(database_url).begin() as session:
        rows = db.history(session, video_id)
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


def export_files(database_url: str, video_id: int, coder: str, file_format: str,
                 unreviewed: str = "prefill") -> list[tuple[str, bytes]]:
    """(file name, content) of the coder's export, one file per person in the video."""
    with tempfile.TemporaryDirectory() as folder, \
            db.open_database(database_url).begin() as session:
        video = db.get_video(session, video_id)
        options = ExportOptions(file_format, coder, unreviewed)
        return [(p.name, p.read_bytes()) for p in export_video(session, video, folder, options)]


def video_coders(database_url: str, video_id: int) -> list[str]:
    with db.open_database(database_url).begin() as session:
        return sorted({track.coder for track in db.tracks(session, video_id)})


def agreement_table(database_url: str, video_id: int, first: str, second: str) -> pd.DataFrame:
    """Per-AU Cohen's kappa and F1 between two coders, or a coder and the model (`MODEL`),
    over the frames both labelled."""
    with db.open_database(database_url).begin() as session:
        video = db.get_video(session, video_id)
        au_set = db.effective_labels(session, video, None).au_set
        agreement = coder_agreement(session, [video], first, None if second == MODEL else second,
                                    au_set)
    table = pd.DataFrame(agreement.as_dict()).T
    table["frames"] = table["frames"].astype(int)
    return table.rename_axis("AU")


def coder_agreement(
    session: db.Session,
    videos: list[db.Video],
    first_coder: str,
    second_coder: str | None,
    au_set: str,
    side: str | None = None,
) -> Agreement:
    """Agreement over the given videos; second_coder None compares with the model's pre-fill."""
    aus = au_names(au_set)
    counts = np.zeros((len(aus), 4), dtype=np.int64)
    for video in videos:
        first = _labelled(session, video, first_coder, side, au_set)
        second = _labelled(session, video, second_coder, side, au_set)
        counts += confusion_counts(first, second)
    return agreement_from_counts(aus, counts)


def _labelled(session, video, coder, side, au_set) -> np.ndarray:
    labels = db.effective_labels(session, video, coder, side, au_set)
    if coder is None:
        return labels.prefill
    return np.where(labels.reviewed, labels.labels, NOT_CODED)


def finetune_refusal(database_url: str, options: FinetuneOptions) -> str | None:
    """Why a fine-tune with `options` cannot run now (too few reviewed videos...), else None.

    The job's own process would find the same and fail; asking first keeps a doomed job out of
    the jobs table and tells the coder at once."""
    try:
        with db.open_database(database_url).begin() as session:
            plan_finetune(session, options)
    except FinetuneError as error:
        return str(error)
    return None


def comparison_table(comparison: VersionComparison) -> pd.DataFrame:
    """Rows: ABAW 2020, mean F1, accuracy, F1 per AU; columns: the new version and its parent.
    An AU without labelled held-out frames has no F1 (NaN)."""
    columns = {version_label(comparison.version_id): comparison.new or {},
               comparison.parent_label: comparison.parent or {}}
    rows = {"ABAW 2020": "abaw2020", "mean F1": "mean_f1", "accuracy": "accuracy"}
    aus = list((comparison.new or comparison.parent or {}).get("per_au_f1", {}))
    table = {}
    for name, scores in columns.items():
        values = [scores.get(key) for key in rows.values()]
        values += [scores.get("per_au_f1", {}).get(au) for au in aus]
        table[name] = [float("nan") if v is None else float(v) for v in values]
    return pd.DataFrame(table, index=[*rows, *(f"F1 {au}" for au in aus)])


def version_history_table(versions: list[VersionComparison]) -> pd.DataFrame:
    """One row per model version, newest first, with both held-out scores."""
    def score(scores: dict | None) -> float:
        return float("nan") if not scores else float(scores["score"])

    return pd.DataFrame(
        [
            {
                "version": v.version_id,
                "active": v.active,
                "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
                "from": v.parent_label,
                "metric": METRIC_NAMES.get(v.metric, v.metric),
                "held-out score": score(v.new),
                "parent's score": score(v.parent),
                "held-out videos": len(v.held_out_videos),
                "held-out frames": v.held_out_frames,
            }
            for v in versions
        ],
        columns=["version", "active", "created", "from", "metric", "held-out score",
                 "parent's score", "held-out videos", "held-out frames"],
    )
