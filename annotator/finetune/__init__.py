"""Fine-tuning the AU network on coders' corrections: versioned models, held-out evaluation,
activation and rollback.

What the app calls (each takes the database URL; none blocks on training):

    job_id = start_finetune(url, FinetuneOptions(coder=..., epochs=...))  # FinetuneBusy if one runs
    status = finetune_status(url, job_id)   # state, progress, epoch, loss, held-out score...
    cancel_finetune(url, job_id)            # the job ends as "cancelled"; nothing changes
    comparison = compare_versions(url, status.version_id)  # new vs parent on held-out frames
    activate_version(url, version_id)       # re-runs the pre-fill on unreviewed frames;
                                            # ActivationRefused below the parent (force=True)
    rollback(url)                           # back to the active version's parent (or baseline)
    version_history(url)                    # every version with its comparison, newest first

`au-annotator finetune` runs the same job in the foreground (annotator.commands.models).
"""

from annotator.finetune.launching import (
    FinetuneStatus,
    cancel_finetune,
    close_dead_jobs,
    finetune_status,
    start_finetune,
)
from annotator.finetune.options import (
    FinetuneBusy,
    FinetuneCancelled,
    FinetuneError,
    FinetuneOptions,
)
from annotator.finetune.versions import (
    ActivationRefused,
    ActivationResult,
    VersionComparison,
    activate_version,
    compare_versions,
    models_folder,
    rollback,
    version_history,
)

__all__ = [
    "ActivationRefused",
    "ActivationResult",
    "FinetuneBusy",
    "FinetuneCancelled",
    "FinetuneError",
    "FinetuneOptions",
    "FinetuneStatus",
    "VersionComparison",
    "activate_version",
    "cancel_finetune",
    "close_dead_jobs",
    "compare_versions",
    "finetune_status",
    "models_folder",
    "rollback",
    "start_finetune",
    "version_history",
]
