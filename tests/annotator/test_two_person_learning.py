"""Learning from a two-person video: adaptation, fine-tuning data and Aff-Wild2 training each
use one subject's own face and labels."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.videos import RIGHT_AWAY

import db
from annotator.commands.models import feature_loader_for
from annotator.learning.adaptation import adapt_video
from annotator.learning.finetune_data import MemoryLoader, reviewed_videos
from annotator.processing.extraction import subjects_for_video
from annotator.processing.prediction import process_video
from annotator.services import Services
from model.affwild2 import FeatureSource, read_split
from model.affwild2_files import write_label_file
from model.au_sets import NOT_CODED, au_names
from model.features import FeatureConfig

AUS = au_names("abaw2020")


@pytest.fixture(scope="module")
def two_person(two_person_clip):
    return two_person_clip


@pytest.fixture
def coded(two_person, tmp_path):
    """The clip processed, alice's AU12 on the right person (subject 2): absent before they
    leave, present after they come back. Returns (url, video id)."""
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    video_id = process_video(two_person, Services.open(url)).video_id
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        db.correct(session, video, "alice", "AU12", 0, RIGHT_AWAY.start - 1, 0, subject=2)
        db.correct(session, video, "alice", "AU12", RIGHT_AWAY.stop, 95, 1, subject=2)
    return url, video_id


def test_adaptation_learns_for_the_subject_that_was_corrected_only(coded):
    url, video_id = coded
    with db.open_database(url).begin() as session:
        first_before = db.latest_prediction_run(session, video_id, 1).id
    result = adapt_video(Services.open(url), video_id)
    [done] = result.subjects
    report = done.reports[AUS.index("AU12")]
    right = subjects_for_video(db_video_path(url, video_id)).subject(2)
    assert done.subject == 2
    assert report.reviewed_frames == int(right.face.sum())  # its own face frames
    with db.open_database(url).begin() as session:
        assert db.latest_prediction_run(session, video_id, 1).id == first_before


def test_fine_tuning_reads_each_subjects_own_features(coded, two_person):
    url, _ = coded
    with db.open_database(url).begin() as session:
        [entry] = reviewed_videos(session, "abaw2020")
    assert (entry.subject, entry.coder) == (2, "alice")
    labels = entry.as_video_labels()
    features = MemoryLoader("dlib", "cpu")(labels.video_path, labels.person)
    assert np.array_equal(features.face, subjects_for_video(two_person).face[1])
    assert (labels.labels[RIGHT_AWAY.stop:, AUS.index("AU12")] == 1).all()


def test_aff_wild2_left_and_right_files_train_on_the_face_on_that_side(two_person, tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "interview.mp4").symlink_to(two_person)
    labels = np.full((96, len(AUS)), NOT_CODED, np.int8)
    for side in ("left", "right"):
        write_label_file(tmp_path / "AU_Set" / "Training_Set" / f"interview_{side}.txt", AUS,
                         labels)
    split = read_split(tmp_path, "train", "abaw2020")
    load = feature_loader_for(FeatureSource(tmp_path, "dlib", "cpu", FeatureConfig()))
    faces = {video.person: load(video.video_path, video.person).face for video in split.videos}
    subjects = subjects_for_video(two_person)
    assert np.array_equal(faces["left"], subjects.face[0])  # subject 1 sits on the left
    assert np.array_equal(faces["right"], subjects.face[1])


def db_video_path(url, video_id):
    with db.open_database(url).begin() as session:
        return db.get_video(session, video_id).path
