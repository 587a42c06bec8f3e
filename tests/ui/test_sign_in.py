"""Who codes, in the real app script (AppTest): accounts sign in with a password, the identity
stays in the server-side session (never the address), only administrators change the model
everyone shares, and odd addresses or stale pages get a message instead of a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import db
from annotator import actions
from annotator.ui import sign_in
from model.formats import au_names

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


@pytest.fixture
def database(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    monkeypatch.setenv("AU_ANNOTATOR_DB", url)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user-wide Streamlit secrets (OIDC)
    import streamlit as st

    st.cache_resource.clear()  # the app's settings (database URL) are a cached resource
    with db.open_database(url).begin() as session:
        db.add_account(session, "alice", "correct horse", admin=True)
        db.add_account(session, "bob", "battery staple")
    yield url
    st.cache_resource.clear()


def page(**query) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    for name, value in query.items():
        app.query_params[name] = value
    return app.run()


def sign_in_as(app: AppTest, name: str, password: str) -> AppTest:
    app.text_input[0].input(name)
    app.text_input[1].input(password)
    return next(b for b in app.button if b.label == "Sign in").click().run()


def test_with_accounts_a_coder_signs_in_with_a_password(database):
    app = sign_in_as(page(), "bob", "wrong")
    assert [e.value for e in app.error] == [
        "Name or password is wrong (or the account is disabled)."]
    assert sign_in.SESSION_KEY not in app.session_state
    app = sign_in_as(app, "bob", "battery staple")
    identity = app.session_state[sign_in.SESSION_KEY]
    assert (identity.name, identity.admin, identity.how) == ("bob", False, "account")
    assert dict(app.query_params) == {}  # the address holds no identity
    assert "Coding as bob" in [t.value for t in app.sidebar.text]


def test_a_name_in_the_address_signs_nobody_in(database):
    app = page(coder="alice")
    assert sign_in.SESSION_KEY not in app.session_state
    assert [b.label for b in app.button] == ["Sign in"]


def test_a_bad_video_number_in_the_address_is_a_message(database):
    app = page()
    app.session_state[sign_in.SESSION_KEY] = sign_in.Identity("bob", False, "account")
    app.query_params["video"] = "abc"
    app.run()
    assert not app.exception
    assert any("video='abc', which is not a number" in w.value for w in app.warning)


def test_a_correction_made_on_a_stale_page_is_refused(database):
    with db.open_database(database).begin() as session:
        video = db.register_video(session, content_hash="f" * 64, path="/v/clip.mp4", fps=30,
                                  frame_count=4, width=64, height=64)
        parameters = db.PredictionParameters("abaw2020", dict.fromkeys(au_names("abaw2020"), 0.5),
                                             1)
        seen = db.store_prediction_run(session, video, np.full((4, 8), 0.2, np.float32),
                                       parameters).id
        db.store_prediction_run(session, video, np.full((4, 8), 0.9, np.float32), parameters)
        video_id = video.id
    with pytest.raises(actions.NewerPrefill, match="the pre-fill changed"):
        actions.accept_prefill(database, video_id, "bob", ("AU1",), 0, 3, seen)
    with pytest.raises(actions.NewerPrefill):
        actions.set_label(database, video_id, "bob", ("AU1",), 0, 3, 1, seen)
    assert actions.review_state(database, video_id, "bob").reviewed.sum() == 0
