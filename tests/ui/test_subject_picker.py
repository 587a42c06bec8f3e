"""Coding one person of a two-person video in the app (Streamlit's AppTest): the picker shows
each face, the page address keeps the subject, and labels, history and the player follow it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import db
from annotator.processing.prediction import process_video
from annotator.services import Services, actions
from annotator.ui import sign_in

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


@pytest.fixture(scope="module")
def database(tmp_path_factory, two_person_clip):
    """A database holding the processed two-person clip; (url, video id)."""
    folder = tmp_path_factory.mktemp("subjects")
    clip = two_person_clip
    url = f"sqlite:///{folder / 'annotations.sqlite3'}"
    video_id = process_video(clip, Services.open(url)).video_id
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AU_ANNOTATOR_DB", url)
        st.cache_resource.clear()  # the app's settings (its database) are a cached resource
        yield url, video_id


def page(video_id: int, **query) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state[sign_in.TOKEN_KEY] = actions.start_sign_in(
        Services.open(os.environ["AU_ANNOTATOR_DB"]), "alice", "name only", 1)[0]
    app.query_params["video"] = str(video_id)
    for name, value in query.items():
        app.query_params[name] = str(value)
    return app.run()


def subject_buttons(app: AppTest) -> dict[str, str]:
    """Label → kind ("primary" marks the chosen one) of the picker's buttons."""
    return {b.label: b.proto.type for b in app.button if b.label.startswith("Subject ")}


def test_the_picker_shows_each_face_and_where_it_is(database):
    _, video_id = database
    app = page(video_id)
    buttons = subject_buttons(app)
    assert [label.split(" · ")[:2] for label in buttons] == [["Subject 1", "left"],
                                                              ["Subject 2", "right"]]
    assert list(buttons.values()) == ["primary", "secondary"]
    captions = [image.proto.imgs[0].caption for image in app.get("image")]
    assert captions.count("") == 2  # a thumbnail each, beside the network's captioned input


def test_choosing_a_subject_puts_it_in_the_address_and_labels_go_to_it(database):
    url, video_id = database
    app = page(video_id)
    next(b for b in app.button if b.label.startswith("Subject 2")).click().run()
    assert app.query_params["subject"] == "2"
    app.radio(key="au").set_value("AU12")
    app.number_input(key="first").set_value(3)
    app.number_input(key="last").set_value(8).run()
    next(b for b in app.button if b.label == "Present").click().run()
    with db.open_database(url).begin() as session:
        video = db.get_video(session, video_id)
        assert db.effective_labels(session, video, "alice", 2).reviewed[3:9, 4].all()
        assert not db.effective_labels(session, video, "alice", 1).reviewed.any()


def test_a_page_opened_on_subject_two_stays_there(database):
    _, video_id = database
    app = page(video_id, subject=2)
    assert list(subject_buttons(app).values()) == ["secondary", "primary"]
    assert "subject 2" in " ".join(c.value for c in app.caption)
    app.radio(key="panel").set_value("History").run()
    assert set(app.dataframe[0].value["coder"]) <= {"alice"}


def test_an_address_naming_a_missing_subject_falls_back_to_subject_one(database):
    _, video_id = database
    app = page(video_id, subject=7)
    assert "This video has no subject '7'; showing subject 1." in [w.value for w in app.warning]
    assert "subject" not in app.query_params
