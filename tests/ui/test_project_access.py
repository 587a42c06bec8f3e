"""Who sees which video once projects exist: the page (Streamlit's AppTest on the real app
script), the player's file routes, and a coder's My videos home.

One database for the module: single_face in project A (coder ann), single_face_hevc in project
B (coder bo), no_face in no project; root is an administrator of the app.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import streamlit as st
from starlette.requests import Request
from streamlit.testing.v1 import AppTest

import db
from annotator.processing.corpus import CorpusOptions, label_corpus
from annotator.processing.extraction import subjects_for_video
from annotator.services import Services, actions
from annotator.services.lab_projects import visible_video_ids
from annotator.ui import sign_in, video_route

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"
DATA = Path(__file__).resolve().parents[1] / "data"
CLIPS = {"A": "single_face.mp4", "B": "single_face_hevc.mov", None: "no_face.mp4"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    """Video ids by project (None: in no project), with the database in the environment."""
    url = f"sqlite:///{tmp_path_factory.mktemp('access') / 'annotations.sqlite3'}"
    summary = label_corpus([DATA / clip for clip in CLIPS.values()], Services.open(url),
                           CorpusOptions(workers=1))
    ids = {Path(o.path).name: o.result.video_id for o in summary.outcomes}
    with db.open_database(url).begin() as session:
        for coder in ("ann", "bo", "root"):
            db.add_account(session, coder, f"{coder}-password", admin=coder == "root")
        for name, coder in (("A", "ann"), ("B", "bo")):
            project = db.projects.add_project(session, name, "abaw2020")
            db.projects.add_project_videos(session, project, [ids[CLIPS[name]]])
            db.projects.set_member(session, project, coder, "coder")
            db.projects.add_assignment(session, project, ids[CLIPS[name]], coder, "primary")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AU_ANNOTATOR_DB", url)
        st.cache_resource.clear()  # the app's settings (its database) are a cached resource
        yield {"url": url, **{name: ids[clip] for name, clip in CLIPS.items()}}


def page(coder: str, admin: bool = False, **query) -> AppTest:
    """A tab of `coder`'s account, signed in (root is the app's administrator; `admin` says
    which the test expects)."""
    app = AppTest.from_file(str(APP), default_timeout=60)
    token, who = actions.start_sign_in(Services.open(os.environ["AU_ANNOTATOR_DB"]), coder,
                                       "account", 1)
    assert who.admin == admin
    app.session_state[sign_in.TOKEN_KEY] = token
    for name, value in query.items():
        app.query_params[name] = str(value)
    return app.run()


def processed_list(app: AppTest) -> list[str]:
    app.sidebar.radio(key="source").set_value("Processed videos").run()
    return [str(option) for option in app.sidebar.selectbox[0].options] \
        if app.sidebar.selectbox else []


def test_a_guessed_address_of_another_projects_video_is_refused(lab):
    app = page("ann", video=lab["B"])
    assert not app.exception
    assert [e.value for e in app.error] == [
        f"Video #{lab['B']} is not in any of your projects; open one of your videos from the "
        "sidebar or My videos."]
    assert not app.subheader  # no video, no timelines, no export panel


def test_a_coder_opens_a_video_of_their_project(lab):
    app = page("ann", video=lab["A"])
    assert not app.exception and not app.error
    assert app.subheader[0].value.startswith("single_face · 72 frames")


def test_videos_in_no_project_are_listed_for_admins_only(lab):
    assert processed_list(page("ann")) == [f"single_face (#{lab['A']})"]
    assert len(processed_list(page("root", admin=True))) == 3
    assert not page("root", admin=True, video=lab[None]).error


def test_my_videos_lists_the_assignment_and_goes_to_its_first_unreviewed_stretch(lab):
    app = page("ann")
    assert app.title[0].value == "My videos"
    assert "**single_face** · A · primary · 0.0 % reviewed · not started" in [
        m.value for m in app.markdown]
    next(b for b in app.button if b.label == "Next unreviewed").click().run()
    assert app.query_params["video"] == str(lab["A"])
    assert (app.session_state["au"], app.session_state["first"],
            app.session_state["last"]) == ("AU1", 0, 59)  # 2 s at 30 fps, AU1 first
    assert app.subheader[0].value.startswith("single_face")


def fetch(folder: str, part: str = "times") -> tuple[int, bytes]:
    """(status, body) of the player's route for `folder` (/api/videos/<token>)."""
    token = folder.rsplit("/", 1)[1]
    scope = {"type": "http", "method": "GET", "path": f"{folder}/{part}", "query_string": b"",
             "headers": [], "path_params": {"token": token, "part": part}}
    response = asyncio.run(video_route.send_part(Request(scope)))
    return response.status_code, getattr(response, "body", b"")


def served(lab, coder: str, video: str) -> str:
    path = DATA / CLIPS[video]
    access = video_route.Access(Services.open(lab["url"]), lab[video], coder, False)
    return video_route.serve(path, "video/mp4", subjects_for_video(path, "dlib"), access)


def test_the_player_files_are_served_to_the_coder_of_the_project_only(lab):
    assert fetch(served(lab, "ann", "A"))[0] == 200
    assert fetch(served(lab, "ann", "B")) == (
        403, f"Video #{lab['B']} is in none of ann's projects.".encode())
    assert fetch("/api/videos/guessed-token")[0] == 404
    assert served(lab, "ann", "A") != served(lab, "bo", "A")  # a token is one coder's


def test_a_token_stops_working_when_its_coder_leaves_the_project(lab):
    folder = served(lab, "ann", "A")
    with db.open_database(lab["url"]).begin() as session:
        db.projects.remove_member(session, db.projects.project_named(session, "A"), "ann")
    try:
        assert fetch(folder)[0] == 403
    finally:
        with db.open_database(lab["url"]).begin() as session:
            db.projects.set_member(session, db.projects.project_named(session, "A"), "ann",
                                   "coder")


def test_without_any_project_every_coder_sees_every_video(tmp_path):
    url = f"sqlite:///{tmp_path / 'single.sqlite3'}"
    with db.open_database(url).begin() as session:
        assert visible_video_ids(session, "anyone", app_admin=False) is None
