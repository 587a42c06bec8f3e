"""The app's view of model versions: the active predictor, a fine-tune's refusal before it
starts, comparison tables, and activation (or rollback) in a background thread.

Activation re-runs the pre-fill of every video with unreviewed frames, which takes from a few
seconds (the demo) to minutes (many long videos), so it runs in a thread of the server process
and the page polls it. The thread outlives the browser tab: a reload finds it again by the
database URL. One activation at a time per database and server process.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import pandas as pd

import db
from annotator.finetuning import (
    ActivationResult,
    FinetuneError,
    FinetuneOptions,
    VersionComparison,
    activate_version,
    rollback,
)
from annotator.finetuning.run import BASELINE_LABEL, plan_finetune

logger = logging.getLogger(__name__)

METRIC_NAMES = {"abaw2020": "ABAW 2020", "mean_f1": "mean F1"}


def version_label(version_id: int | None) -> str:
    return BASELINE_LABEL if version_id is None else f"version {version_id}"


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


def history_table(versions: list[VersionComparison]) -> pd.DataFrame:
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


@dataclass
class Activation:
    """One activation or rollback running (or finished) in a background thread."""

    target: str  # "version 3", "geometry baseline" or "the parent"
    done: int = 0  # videos whose pre-fill was re-run so far
    total: int = 0
    result: ActivationResult | None = None
    error: str | None = None
    finished: bool = False

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


_lock = threading.Lock()
_activations: dict[str, Activation] = {}  # database URL → its latest activation


def current_activation(database_url: str) -> Activation | None:
    """The database's running activation, or the last finished one (None: none since start)."""
    with _lock:
        return _activations.get(database_url)


def start_activation(database_url: str, version_id: int | None,
                     roll_back: bool = False) -> Activation:
    """Activate `version_id` (None: the baseline), or roll back to the active version's parent
    when `roll_back`, in a background thread; the running one if one is already running."""
    with _lock:
        running = _activations.get(database_url)
        if running is not None and not running.finished:
            return running
        activation = Activation("the parent" if roll_back else version_label(version_id))
        _activations[database_url] = activation
    threading.Thread(target=_activate, args=(database_url, version_id, roll_back, activation),
                     name="activate-model-version", daemon=True).start()
    return activation


def _activate(database_url: str, version_id: int | None, roll_back: bool,
              activation: Activation) -> None:
    try:
        if roll_back:
            activation.result = rollback(database_url, activation.progress)
        else:
            activation.result = activate_version(database_url, version_id, activation.progress)
    except FinetuneError as error:
        activation.error = str(error)
    except Exception as error:  # the page must show the failure instead of polling forever
        logger.exception("activating %s failed", activation.target)
        activation.error = f"activating {activation.target} failed ({error}); nothing changed"
    finally:
        activation.finished = True
