"""Random-init face-alignment weight files in a temporary torch hub folder (no network)."""

from __future__ import annotations

from pathlib import Path

import torch

from annotator.landmarks.fan_weights import WEIGHT_FILES


def write_random_weights(torch_home: Path, detector: bool = True) -> Path:
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / WEIGHT_FILES["landmarks"][0])
    if detector:
        torch.save(s3fd().state_dict(), folder / WEIGHT_FILES["sfd"][0])
    return folder
