"""The speed work keeps the labels: processing the bundled clips from an empty cache stores the
pre-fills that the code before it (commit 4d93277) stored, recorded in
tests/data/prefill_reference.npz by benchmarks/prefill_speed_reference.py (its docstring says
how).

Tolerance: on frames between two window searches the 68 points are fitted in the face's last
detected box, moved as its landmarks moved, instead of a box detected again
(annotator.processing.landmarks.dlib_backend). The detected boxes themselves jump by about 20
pixels from one frame to the next (a window search on a downscaled window: one 8-pixel HOG cell
there is some 20 pixels of the video), and the fit follows its box, so the pre-fill of a frame
whose probability sits at its threshold flips with any change of box. Measured when this was
written: 0.986 of the demo clip's frame × AU labels identical, 0.999 and 0.991 of the
two-person clip's subjects, all of single_face. The frames with a face (each subject's) must be
the same frames, and at least MIN_SAME_LABELS of each clip's labels identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.videos import two_person_video

import db
from annotator.processing.prediction import process_video
from annotator.services import Services

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "prefill_reference.npz"
MIN_SAME_LABELS = 0.98


def stored_prefills(clip: Path, database_url: str) -> dict[str, np.ndarray]:
    """Process `clip` and read back each pre-filled subject's stored labels and face frames,
    keyed "subject-N/labels" and "subject-N/face"."""
    services = Services.open(database_url)
    processed = process_video(clip, services)
    found = {}
    with services.store.read() as session:
        for number in sorted(db.prefilled_subjects(session, processed.video_id)):
            run = db.latest_prediction_run(session, processed.video_id, number)
            labels, face = db.run_prefill(run)
            found[f"subject-{number}/labels"], found[f"subject-{number}/face"] = labels, face
    return found


def reference_clips(single_face: Path, demo_video: Path, folder: Path) -> dict[str, Path]:
    """The clips the reference was recorded on, by the name it keys them with."""
    return {"single_face": single_face, "demo": demo_video,
            "two_person": two_person_video(folder / "two_person.mp4", single_face, demo_video)}


@pytest.fixture(scope="module")
def clips(single_face, demo_video, two_person_clip) -> dict[str, Path]:
    """reference_clips, with the session's two-person clip (tests/helpers/videos.py)."""
    return {"single_face": single_face, "demo": demo_video, "two_person": two_person_clip}


@pytest.mark.parametrize("name", ["single_face", "demo", "two_person"])
def test_processing_stores_the_reference_prefill(name, clips, tmp_path, monkeypatch):
    monkeypatch.setenv("AU_ANNOTATOR_CACHE", str(tmp_path / "cache"))  # nothing read, all made
    found = stored_prefills(clips[name], f"sqlite:///{tmp_path / 'labels.sqlite3'}")
    with np.load(REFERENCE) as archive:
        expected = {key.split("/", 1)[1]: archive[key] for key in archive.files
                    if key.startswith(f"{name}/")}
    assert sorted(found) == sorted(expected)  # the same subjects pre-filled
    for key, labels in expected.items():
        if key.endswith("/face"):
            assert np.array_equal(found[key], labels), key
        else:
            same = float(np.mean(found[key] == labels))
            assert same >= MIN_SAME_LABELS, f"{name} {key}: {same:.4f} of labels identical"
