"""Set-up shared by the fine-tuning tests: a synthetic dataset made once per test run (in the
run's private cache folder, so every module reuses it), and fresh databases holding its videos
(processed, pre-filled by the geometry baseline) with some label files imported as one coder's
corrections."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

import db
from annotator.devtools.synthetic import SyntheticConfig, make_synthetic_dataset
from annotator.jobs import JobStatus
from annotator.jobs.finetune_launch import finetune_status
from annotator.labelfiles.label_io import import_label_folder
from annotator.processing.extraction import cache_root
from annotator.processing.prediction import process_video
from annotator.services import Services
from helpers.polling import poll_until
from model.affwild2_files import read_label_file, write_label_file
from model.au_sets import NOT_CODED
from model.checkpoint import save_checkpoint
from model.features import FeatureConfig
from model.network import NetworkConfig

CODER = "coder"
# One dataset for every fine-tuning test module, so a test run makes it once.
DATASET = SyntheticConfig(train_clips=8, validation_clips=3, frames_per_clip=80)
TINY_NETWORK = {"conv_channels": (8, 8, 16, 16), "hidden_size": 32, "embedding_size": 16}


def synthetic_dataset(demo_video: Path, config: SyntheticConfig = DATASET) -> Path:
    """DIR/videos/*.mp4 + DIR/AU_Set/... made from the demo clip (once per test run)."""
    name = (f"finetune-synthetic-{config.train_clips}-{config.validation_clips}-"
            f"{config.frames_per_clip}-{config.seed}")
    root = cache_root() / name
    if not root.is_dir():  # test processes running side by side may both make it: one wins
        partial = cache_root() / f"{name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        make_synthetic_dataset(partial, [demo_video], config)
        try:
            partial.rename(root)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
            if not root.is_dir():
                raise
    return root


def label_files(dataset: Path) -> dict[str, Path]:
    """Video name → its label file."""
    return {p.stem: p for p in sorted(dataset.glob("AU_Set/*/*.txt"))}


def database_with_corrections(folder: Path, dataset: Path, corrected: list[str],
                              aus: tuple[str, ...] | None = None) -> str:
    """A database with every dataset video processed and `corrected` videos' label files
    imported as CODER's corrections (only `aus`, when given: the others imported as -1, not
    coded); returns its URL."""
    url = f"sqlite:///{folder / 'annotations.sqlite3'}"
    for video in sorted((dataset / "videos").glob("*.mp4")):
        process_video(video, Services.open(url))
    labels = folder / "imported-labels"
    labels.mkdir()
    for name, path in label_files(dataset).items():
        if name in corrected:
            label_file = read_label_file(path)
            kept = [au in (aus or label_file.aus) for au in label_file.aus]
            values = np.where(kept, label_file.labels, NOT_CODED)
            write_label_file(labels / path.name, label_file.aus, values)
    with db.open_database(url).begin() as session:
        import_label_folder(session, labels, CODER)
    return url


def video_ids(url: str) -> dict[str, int]:
    with db.open_database(url).begin() as session:
        return {video.name: video.id for video in db.list_videos(session)}


def register_network(url: str, folder: Path, thresholds: float = 0.5,
                     activate: bool = True) -> int:
    """A real (randomly initialised) network checkpoint as a model version; returns its id."""
    import torch

    from model.checkpoint import CheckpointInfo
    from model.network import AUNetwork

    torch.manual_seed(0)
    config = NetworkConfig(**TINY_NETWORK)
    info = CheckpointInfo(config, np.full(config.num_aus, thresholds, np.float32), 1, "dlib",
                          feature_key=FeatureConfig().key())
    path = save_checkpoint(folder / "registered" / "model.safetensors", AUNetwork(config), info)
    with db.open_database(url).begin() as session:
        version = db.add_model_version(session, path, config.au_set, {"note": "random"})
        if activate:
            db.activate_model_version(session, version.id)
        return version.id


def wait_for(url: str, job_id: int, done, timeout_s: float = 180.0) -> JobStatus:
    """Poll the job until `done(status)`; fails with the last status after timeout_s."""
    services = Services.open(url)
    return poll_until(lambda: finetune_status(services, job_id), done, timeout_s, 0.2,
                      f"job {job_id}")


def store_snapshot(url: str, models: Path) -> dict:
    """Everything a failed or cancelled fine-tune must leave as it was."""
    from sqlalchemy import func, select

    with db.open_database(url).begin() as session:
        counts = {table.__name__: session.scalar(select(func.count()).select_from(table))
                  for table in (db.ModelVersion, db.PredictionRun, db.Edit, db.Correction)}
        active = db.active_model_version(session)
        files = sorted(p.name for p in models.glob("*.safetensors")) if models.is_dir() else []
        return {**counts, "active": active.id if active else None, "model_files": files}
