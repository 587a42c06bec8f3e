"""Loading face-alignment's networks through its own download-and-cache code.

The weights download on a user's first run into torch's hub folder
(`$TORCH_HOME/hub/checkpoints`, by default `~/.cache/torch/hub/checkpoints`). Offline and
missing, the error names the file and the folder it belongs in, so it can be copied there.
"""

from __future__ import annotations

import logging
import urllib.error
from pathlib import Path

import torch

from annotator.errors import InputError

log = logging.getLogger(__name__)

# The names face-alignment 1.5 downloads its files under (see face_alignment.api / detection).
WEIGHT_FILES = {
    "landmarks": ("2DFAN4-11f355bf06.pth.tar",
                  "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar"),
    "sfd": ("s3fd-619a316812.pth",
            "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"),
}


def weights_folder() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_face_alignment(
    device: str, dtype: torch.dtype, detector: str = "sfd", allow_download: bool = True
):
    """face_alignment.FaceAlignment for 2-D landmarks, without flip-averaging or compiling.

    `allow_download=False` fails at once on a missing file instead of trying the network.
    """
    import face_alignment  # heavy import (numba, skimage): only when the fan backend is used

    # face-alignment loads the detector first, so that is the file a failed download names
    needed = ([detector] if detector in WEIGHT_FILES else []) + ["landmarks"]
    folder = weights_folder()
    missing = [WEIGHT_FILES[n] for n in needed if not (folder / WEIGHT_FILES[n][0]).exists()]
    if missing and not allow_download:
        name, url = missing[0]
        raise InputError(folder / name, f"face-alignment weights missing; download {url} "
                                        f"into {folder}")
    if missing:
        log.warning("downloading face-alignment weights into %s", folder)
    try:
        return face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device=device, dtype=dtype,
            face_detector=detector, flip_input=False, compile=False,
        )
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        if not missing:
            raise
        name, url = missing[0]
        raise InputError(
            folder / name,
            f"face-alignment weights missing and could not be downloaded "
            f"({error.__class__.__name__}); download {url} into {folder}",
        ) from None


def write_random_weights(folder: Path) -> Path:
    """Random-init weight files under face-alignment's download names in `folder`.

    For tests and GPU benchmarks on machines that cannot download: they run the library's real
    loading code, and speed does not depend on the weights. Landmarks from them mean nothing.
    """
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / WEIGHT_FILES["landmarks"][0])
    torch.save(s3fd().state_dict(), folder / WEIGHT_FILES["sfd"][0])
    return folder
