"""A separate process writing one file the way the product does (used by test_full_disk.py,
which starts it with a small file-size limit).

Usage: full_disk_writer.py checkpoint PATH SEED   (model.checkpoint.save_checkpoint)
       full_disk_writer.py copy URL VERSION_ID DIR (db.model_version_file: another host's copy)
Prints "written PATH", or "error ERRNO FILENAME" and exits 3 when the write raised OSError.
"""

from __future__ import annotations

import sys


def write_checkpoint(path: str, seed: int) -> str:
    import numpy as np
    import torch

    from model.checkpoint import CheckpointInfo, save_checkpoint
    from model.network import AUNetwork, NetworkConfig

    torch.manual_seed(seed)
    config = NetworkConfig(conv_channels=(8, 8, 16, 16), hidden_size=32, embedding_size=16)
    info = CheckpointInfo(config, np.full(config.num_aus, 0.5, np.float32), 1, "dlib")
    return str(save_checkpoint(path, AUNetwork(config), info))


def write_copy(url: str, version_id: int, folder: str) -> str:
    import db

    with db.open_database(url, read_only=True).begin() as session:
        version = db.get_model_version(session, version_id)
        return str(db.model_version_file(session, version, folder))


def main() -> int:
    what, *arguments = sys.argv[1:]
    try:
        if what == "checkpoint":
            written = write_checkpoint(arguments[0], int(arguments[1]))
        else:
            written = write_copy(arguments[0], int(arguments[1]), arguments[2])
    except OSError as error:
        print(f"error {error.errno} {error.filename}", flush=True)
        return 3
    print(f"written {written}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
