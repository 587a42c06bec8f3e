"""An admin gives a coder's assignment to another coder of the project: the service and
`au-annotator project reassign`, on a real SQLite file with the real clips.

One database for the module: single_face and single_face_hevc (72 frames, a face on every
one). Each test makes its own project (and its own coders), so the tests do not meet.
"""

from __future__ import annotations

import pytest
from helpers.command_line import cli

import db
from annotator.processing.corpus import CorpusOptions, label_corpus
from annotator.services import Services
from annotator.services.lab_projects import progress, reassign


@pytest.fixture(scope="module")
def services(tmp_path_factory, single_face) -> Services:
    url = f"sqlite:///{tmp_path_factory.mktemp('reassign') / 'annotations.sqlite3'}"
    hevc = single_face.with_name("single_face_hevc.mov")
    services = Services.open(url)
    label_corpus([single_face, hevc], services, CorpusOptions(workers=1))
    return services


def make_project(services: Services, name: str, assigned: dict[str, list[tuple[str, str]]],
                 others: tuple[str, ...] = ()) -> None:
    """Project `name` with `assigned` (video name → (coder, role)...) and coders `others`
    holding nothing; dee is its admin."""
    with services.store.write() as session:
        project = db.projects.add_project(session, name, "abaw2020")
        for video, holders in assigned.items():
            video_id = db.videos_named(session, video)[0].id
            db.projects.add_project_videos(session, project, [video_id])
            for coder, role in holders:
                db.projects.set_member(session, project, coder, "coder")
                db.projects.add_assignment(session, project, video_id, coder, role)
        for coder in others:
            db.projects.set_member(session, project, coder, "coder")
        db.projects.set_member(session, project, "dee", "admin")


def holders(services: Services, name: str) -> list[tuple[str, str, str]]:
    """(video, coder, role) of every assignment of the project."""
    with services.store.read() as session:
        project = db.projects.project_named(session, name)
        return [(r.video_name, r.coder, r.role) for r in db.projects.assignments(session, project)]


def move(services: Services, name: str, video: str, old: str, new: str) -> str:
    with services.store.write() as session:
        return reassign(session, name, video, old, new)


def test_the_assignment_moves_to_the_new_coder_and_out_of_the_old_ones_videos(services):
    make_project(services, "moving", {"single_face_hevc": [("al", "primary")]}, others=("bea",))
    said = move(services, "moving", "single_face_hevc", "al", "bea")
    assert said == ("single_face_hevc: al's primary coding in project moving now goes to bea "
                    "(al's corrections stay stored)")
    assert holders(services, "moving") == [("single_face_hevc", "bea", "primary")]
    with services.store.read() as session:  # what My videos lists
        assert [r.video_name for r in db.projects.assignments(session, coder="bea")] == [
            "single_face_hevc"]
        assert db.projects.assignments(session, coder="al") == []


def test_a_coder_who_is_not_a_coder_of_the_project_is_refused(services):
    make_project(services, "closed", {"single_face_hevc": [("cal", "primary")]})
    with pytest.raises(db.ProjectError) as refused:
        move(services, "closed", "single_face_hevc", "cal", "stranger")
    assert str(refused.value) == ("stranger: is not a coder of project closed; add them with "
                                  "`au-annotator project members closed --add stranger`")
    with pytest.raises(db.ProjectError, match=r"^dee: is not a coder of project closed \(an "
                                              r"admin of it codes nothing\)$"):
        move(services, "closed", "single_face_hevc", "cal", "dee")
    assert holders(services, "closed") == [("single_face_hevc", "cal", "primary")]


def test_one_coder_never_gets_both_copies_of_a_double_coded_video(services):
    make_project(services, "double", {"single_face": [("dan", "primary"), ("eve", "reliability")]})
    with pytest.raises(db.ProjectError) as refused:
        move(services, "double", "single_face", "dan", "eve")
    assert str(refused.value) == ("single_face: eve codes it already (reliability) in project "
                                  "double; a double-coded video needs two different coders")
    assert holders(services, "double") == [("single_face", "dan", "primary"),
                                           ("single_face", "eve", "reliability")]


def test_the_old_coders_corrections_stay_and_count_again_if_the_video_comes_back(services):
    make_project(services, "kept", {"single_face_hevc": [("fay", "primary")]}, others=("gus",))
    with services.store.write() as session:
        clip = db.videos_named(session, "single_face_hevc")[0]
        db.correct(session, clip, "fay", "AU12", 0, 35, 1)  # 36 of 576 cells
    move(services, "kept", "single_face_hevc", "fay", "gus")
    with services.store.read() as session:
        assert [(s.assignment.coder, s.reviewed) for s in progress(session, "kept")] == [
            ("gus", 0)]  # the new coder starts from the pre-fill
        labels = db.effective_labels(session, clip, "fay", 1, "abaw2020")
        assert labels.reviewed[:36, 4].all() and labels.labels[:36, 4].tolist() == [1] * 36
    move(services, "kept", "single_face_hevc", "gus", "fay")
    with services.store.read() as session:
        assert [(s.assignment.coder, s.reviewed) for s in progress(session, "kept")] == [
            ("fay", 36)]


def test_giving_a_video_to_its_own_coder_changes_nothing_and_says_so(services):
    make_project(services, "same", {"single_face_hevc": [("hal", "primary")]})
    assert move(services, "same", "single_face_hevc", "hal", "hal") == (
        "single_face_hevc: already assigned to hal in project same; nothing changed")


def test_a_video_marked_done_is_reopened_before_it_moves(services):
    make_project(services, "finished", {"single_face_hevc": [("ivy", "primary")]},
                 others=("jon",))
    with services.store.write() as session:
        row = db.projects.assignments(session, coder="ivy")[0]
        db.projects.mark_done(session, row.assignment_id, True, "dee")
    with pytest.raises(db.ProjectError, match="^single_face_hevc: is marked done by ivy; reopen "
                                              "it first to give it to another coder$"):
        move(services, "finished", "single_face_hevc", "ivy", "jon")


def test_the_command_reassigns_and_answers_in_one_line(services):
    make_project(services, "by-cli", {"single_face": [("kit", "primary")]}, others=("lou",))
    url = services.store.url
    status, out, err = cli("project", "reassign", "by-cli", "single_face", "--from", "kit",
                           "--to", "lou", "--db", url)
    assert (status, out, err) == (0, "single_face: kit's primary coding in project by-cli now "
                                     "goes to lou (kit's corrections stay stored)\n", "")
    assert cli("project", "progress", "by-cli", "--db", url)[1] == (
        "single_face\tlou\tprimary\t0.0 %\topen\n")
    assert cli("project", "reassign", "by-cli", "single_face", "--from", "kit", "--to", "lou",
               "--db", url) == (2, "", "au-annotator project: error: single_face: not assigned "
                                       "to kit in project by-cli\n")
