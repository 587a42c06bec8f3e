"""A project's admin reassigns a video in the app (Streamlit's AppTest on the real app script):
the panel moves the assignment, says what it did, and says why when it did nothing.

One database for the module: single_face in project P, coded by ann; cy is the other coder of
P and dee its admin (an account without the app's admin role).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import db
from annotator.processing.corpus import CorpusOptions, label_corpus
from annotator.services import Services, actions
from annotator.ui import sign_in

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, single_face) -> str:
    """The database URL, also in the environment for the app."""
    url = f"sqlite:///{tmp_path_factory.mktemp('reassign') / 'annotations.sqlite3'}"
    summary = label_corpus([single_face], Services.open(url), CorpusOptions(workers=1))
    with db.open_database(url).begin() as session:
        for coder in ("ann", "cy", "dee"):
            db.add_account(session, coder, f"{coder}-password")
        project = db.projects.add_project(session, "P", "abaw2020")
        db.projects.add_project_videos(session, project, [summary.outcomes[0].result.video_id])
        db.projects.set_member(session, project, "ann", "coder")
        db.projects.set_member(session, project, "cy", "coder")
        db.projects.set_member(session, project, "dee", "admin")
        db.projects.add_assignment(session, project, summary.outcomes[0].result.video_id, "ann",
                                   "primary")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AU_ANNOTATOR_DB", url)
        st.cache_resource.clear()  # the app's settings (its database) are a cached resource
        yield url


def page(coder: str) -> AppTest:
    """A signed-in tab of `coder`'s account, on its home page."""
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state[sign_in.TOKEN_KEY] = actions.start_sign_in(
        Services.open(os.environ["AU_ANNOTATOR_DB"]), coder, "account", 1)[0]
    return app.run()


def my_videos(coder: str) -> list[str]:
    app = page(coder)
    return [m.value for m in app.markdown if m.value.startswith("**")]


def reassign(app: AppTest, assignment: str, coder: str) -> list[str]:
    """Choose the assignment and the coder, press Reassign; the page's notes after it."""
    app.selectbox(key="reassign_P").set_value(assignment)
    app.selectbox(key="reassign_to_P").set_value(coder)
    app.button(key="reassign_button_P").click().run()
    assert not app.exception
    return [c.value for c in app.caption]


def test_the_admin_gives_a_video_to_another_coder_of_the_project(lab):
    assert my_videos("ann") == ["**single_face** · P · primary · 0.0 % reviewed · not started"]
    app = page("dee")
    notes = reassign(app, "single_face (ann, primary)", "ann")
    assert "single_face: already assigned to ann in project P; nothing changed" in notes
    notes = reassign(app, "single_face (ann, primary)", "cy")
    assert ("single_face: ann's primary coding in project P now goes to cy (ann's corrections "
            "stay stored)") in notes
    assert app.dataframe[0].value[["coder", "role"]].values.tolist() == [["cy", "primary"]]
    assert my_videos("cy") == ["**single_face** · P · primary · 0.0 % reviewed · not started"]
    assert my_videos("ann") == []
