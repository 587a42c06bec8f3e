"""Fine-tuning data: the frames coders reviewed, a held-out split, the features loader, and
the frames a new network is distilled on.

A (frame, AU) pair trains only when a coder reviewed it (corrected it, accepted the pre-fill
or imported a label for it) with a value of 0 or 1; reviewed -1 ("cannot be coded") and
unreviewed pairs are left out. Each (video, subject, coder) with reviewed frames is one
training entry, with that subject's own features.

Evaluation holds out whole videos. A video that trained the parent model or any of its
ancestors is never held out, so the parent's held-out score is not flattered by its own
training data; the choice among the others is stable (ordered by a hash of the content), so
successive fine-tunes keep holding out the same videos.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import db
from annotator.learning.finetune_options import FinetuneError
from annotator.processing.extraction import person_features
from model.dataset import VideoLabels
from model.errors import InputError
from model.features import FeatureConfig, VideoFeatures


@dataclass(frozen=True)
class ReviewedVideo:
    video_id: int
    name: str
    path: Path
    content_hash: str
    coder: str
    labels: np.ndarray  # (T, K) int8: reviewed 0/1 values, -1 elsewhere
    subject: int = 1

    @property
    def person(self) -> str | None:
        """The subject as label files name it (the loaders' key)."""
        return None if self.subject == 1 else f"subject{self.subject}"

    def as_video_labels(self) -> VideoLabels:
        who = f"subject {self.subject}, " if self.subject != 1 else ""
        return VideoLabels(f"{self.name} (video {self.video_id}, {who}{self.coder})", self.path,
                           self.labels, self.person)


def reviewed_videos(
    session: db.Session, au_set: str, coder: str | None = None, video_ids: tuple[int, ...] = (),
) -> list[ReviewedVideo]:
    """Every (video, subject, coder) with reviewed 0/1 labels of `au_set`, by video id,
    subject, then coder."""
    return [
        ReviewedVideo(video.id, video.name, Path(video.path), video.content_hash, name, labels,
                      subject)
        for video, name, subject, labels in db.reviewed_labels(session, au_set, coder, video_ids)
    ]


def split_held_out(
    videos: list[ReviewedVideo], held_out: tuple[int, ...], share: float,
    trained_before: set[str],
) -> tuple[list[ReviewedVideo], list[ReviewedVideo]]:
    """(training entries, held-out entries), split by whole videos.

    `held_out`: video ids chosen by the caller (else `share` of the videos is chosen);
    `trained_before`: content hashes of videos the parent lineage trained on.
    """
    ids = sorted({v.video_id for v in videos})
    hashes = {v.video_id: v.content_hash for v in videos}
    if len(ids) < 2:
        raise FinetuneError(
            f"reviewed frames were found in {len(ids)} video(s); fine-tuning needs at least "
            "two: one to train on and one held out to measure the new model"
        )
    if held_out:
        unknown = sorted(set(held_out) - set(ids))
        if unknown:
            raise FinetuneError(f"videos {unknown} have no reviewed frames to hold out")
        seen = sorted(i for i in held_out if hashes[i] in trained_before)
        if seen:
            raise FinetuneError(f"videos {seen} trained the active model, so they cannot "
                                "measure it; hold out other videos")
        chosen = set(held_out)
    else:
        candidates = [i for i in ids if hashes[i] not in trained_before]
        if not candidates:
            raise FinetuneError(
                "every reviewed video already trained the active model; review another video "
                "so it can be held out to measure the new model"
            )
        candidates.sort(key=lambda i: hashlib.sha256(hashes[i].encode()).hexdigest())
        count = min(max(1, math.ceil(share * len(ids))), len(ids) - 1, len(candidates))
        chosen = set(candidates[:count])
    if chosen == set(ids):
        raise FinetuneError("every reviewed video would be held out; nothing is left to train on")
    training = [v for v in videos if v.video_id not in chosen]
    return training, [v for v in videos if v.video_id in chosen]


class MemoryLoader:
    """Cached features of each video's subjects (made as `config` says: the parent network's
    settings), read once per fine-tune and shared by its video sets (a model.dataset
    FeatureLoader)."""

    def __init__(self, backend: str, device: str, config: FeatureConfig | None = None):
        self.backend, self.device, self.config = backend, device, config
        self.held: dict[tuple[Path, str | None], VideoFeatures] = {}

    def __call__(self, path: Path, person: str | None) -> VideoFeatures:
        if (path, person) not in self.held:
            self.held[path, person] = self.read(path, person)
        return self.held[path, person]

    def read(self, path: Path, person: str | None) -> VideoFeatures:
        """The features, held already or read now without keeping them."""
        if (path, person) in self.held:
            return self.held[path, person]
        if not Path(path).is_file():
            raise InputError(path, "video file not found (moved or deleted?); put it back "
                                   "or leave its video out of the fine-tune")
        return person_features(path, person, self.backend, self.device, self.config)



DISTIL_FRAMES_PER_VIDEO = 600
DISTIL_FRAMES = 6000


def distillation_frames(paths: list[Path], teacher, load: MemoryLoader):
    """(images, motion, teacher probabilities) of face frames spread over every processed video:
    at most DISTIL_FRAMES_PER_VIDEO a video and DISTIL_FRAMES in all. Videos in `load`'s memory
    come from there; others are read from the cache and let go. Missing files are skipped."""
    per_video = max(1, min(DISTIL_FRAMES_PER_VIDEO, DISTIL_FRAMES // max(len(paths), 1)))
    images, motion, targets = [], [], []
    for path in paths:
        if not Path(path).is_file():
            continue
        features = load.read(path, None)  # each video's subject 1, not kept
        faces = np.flatnonzero(features.face)
        if len(faces) == 0:
            continue
        chosen = faces[np.linspace(0, len(faces) - 1, min(per_video, len(faces))).astype(int)]
        images.append(features.images[chosen])
        motion.append(features.motion[chosen])
        targets.append(teacher.predict(features)[chosen])
    if not targets:
        raise FinetuneError("no processed video with a face is on disk to start a new network "
                            "from; process a video first")
    return np.concatenate(images), np.concatenate(motion), np.concatenate(targets)
