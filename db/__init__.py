"""The annotation store: videos, prediction runs, coders' corrections, model versions, jobs.

Open a database with `open_database(database_url(cli_value))` (see db.engine for where the
default file lives); functions here take a session and never commit: the caller owns the
transaction (`with open_database(url).begin() as session: ...`).
"""

from db.corrections import (
    HistoryRow,
    Interval,
    Track,
    coder_named,
    correct,
    history,
    intervals_from_labels,
    record_edit,
    redo,
    tracks,
    undo,
)
from db.effective import EffectiveLabels, accept_prefill, effective_labels
from db.engine import (
    DATABASE_OPTION_HELP,
    database_url,
    default_database_path,
    get_engine,
    open_database,
)
from db.jobs import (
    active_jobs,
    beat,
    cancel_job,
    create_job,
    fail_job,
    finish_job,
    recent_jobs,
    report_progress,
    request_cancel,
    start_job,
)
from db.model_versions import (
    activate_model_version,
    active_model_version,
    add_model_version,
    deactivate_model_versions,
    list_model_versions,
)
from db.models import Coder, Correction, Edit, Job, ModelVersion, PredictionRun, Video
from db.predictions import (
    PredictionParameters,
    latest_prediction_run,
    run_parameters,
    run_prefill,
    run_probabilities,
    store_prediction_run,
)
from db.videos import get_video, list_videos, register_video, videos_named

__all__ = [
    "DATABASE_OPTION_HELP",
    "Coder",
    "Correction",
    "Edit",
    "EffectiveLabels",
    "HistoryRow",
    "Interval",
    "Job",
    "ModelVersion",
    "PredictionParameters",
    "PredictionRun",
    "Track",
    "Video",
    "accept_prefill",
    "active_jobs",
    "activate_model_version",
    "active_model_version",
    "add_model_version",
    "beat",
    "cancel_job",
    "coder_named",
    "correct",
    "create_job",
    "database_url",
    "deactivate_model_versions",
    "default_database_path",
    "effective_labels",
    "fail_job",
    "finish_job",
    "get_engine",
    "get_video",
    "history",
    "intervals_from_labels",
    "latest_prediction_run",
    "list_model_versions",
    "list_videos",
    "open_database",
    "record_edit",
    "recent_jobs",
    "redo",
    "register_video",
    "report_progress",
    "request_cancel",
    "run_parameters",
    "run_prefill",
    "run_probabilities",
    "start_job",
    "store_prediction_run",
    "tracks",
    "undo",
    "videos_named",
]
