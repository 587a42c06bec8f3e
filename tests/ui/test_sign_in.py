"""Who codes, in the real app script (AppTest): accounts sign in with a password, the sign-in is
a token in the server-side session (never the address) that the database answers for at every
run, so a disabled account, a role changed or accounts added apply at the next action; odd
addresses or stale pages get a message instead of a crash. The cookie that carries the token
across reloads is tested in a real browser (test_browser_sign_in.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import db
from annotator.services import Services, actions
from annotator.ui import sign_in
from model.au_sets import au_names

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


def coding_as(app: AppTest) -> list[str]:
    return [t.value for t in app.sidebar.text if t.value.startswith("Coding as")]


def test_with_accounts_a_coder_signs_in_with_a_password(database):
    app = sign_in_as(page(), "bob", "wrong")
    assert [e.value for e in app.error] == [
        "Name or password is wrong (or the account is disabled)."]
    assert sign_in.TOKEN_KEY not in app.session_state
    app = sign_in_as(app, "bob", "battery staple")
    assert coding_as(app) == ["Coding as bob"]
    assert dict(app.query_params) == {}  # the address holds no identity
    assert db_sign_in(database, app.session_state[sign_in.TOKEN_KEY]).how == "account"


def db_sign_in(url: str, token: str):
    return actions.signed_in_by_token(Services.open(url), token)


def test_a_name_in_the_address_signs_nobody_in(database):
    app = page(coder="alice")
    assert sign_in.TOKEN_KEY not in app.session_state
    assert [b.label for b in app.button] == ["Sign in"]


def test_a_forged_token_signs_nobody_in(database):
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state[sign_in.TOKEN_KEY] = "x" * 43
    app.run()
    assert coding_as(app) == [] and "Sign in" in [b.label for b in app.button]


def test_sign_out_ends_the_token(database):
    app = sign_in_as(page(), "alice", "correct horse")
    token = app.session_state[sign_in.TOKEN_KEY]
    next(b for b in app.sidebar.button if b.label == "Sign out").click().run()
    assert "Sign in" in [b.label for b in app.button]
    assert db_sign_in(database, token) is None  # a reload with the old cookie signs nobody in


def test_an_expired_token_signs_nobody_in(database):
    token, _ = actions.start_sign_in(Services.open(database), "bob", "account", -0.01)
    assert db_sign_in(database, token) is None


def test_disabling_an_account_signs_its_open_page_out_at_the_next_action(database):
    app = sign_in_as(page(), "bob", "battery staple")
    with db.open_database(database).begin() as session:
        db.disable_account(session, "bob")
    app.run()
    assert coding_as(app) == [] and "Sign in" in [b.label for b in app.button]


def test_an_admin_role_granted_or_removed_applies_at_the_next_action(database):
    app = sign_in_as(page(), "bob", "battery staple")
    with db.open_database(database).begin() as session:
        db.set_admin(session, "bob", True)
    assert coding_as(app.run()) == ["Coding as bob (admin)"]
    with db.open_database(database).begin() as session:
        db.set_admin(session, "bob", False)
    assert coding_as(app.run()) == ["Coding as bob"]


def test_a_one_person_session_ends_once_accounts_exist(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'annotations.sqlite3'}"
    monkeypatch.setenv("AU_ANNOTATOR_DB", url)
    monkeypatch.setenv("HOME", str(tmp_path))
    import streamlit as st

    st.cache_resource.clear()
    app = page()
    app.text_input[0].input("carol")
    app = next(b for b in app.button if b.label == "Start coding").click().run()
    assert coding_as(app) == ["Coding as carol (admin)"]
    with db.open_database(url).begin() as session:
        db.add_account(session, "carol", "a long password")  # added without --admin
    app.run()
    assert coding_as(app) == [] and "Sign in" in [b.label for b in app.button]
    assert coding_as(sign_in_as(app, "carol", "a long password")) == ["Coding as carol"]
    st.cache_resource.clear()


def test_a_bad_video_number_in_the_address_is_a_message(database):
    app = page()
    app.session_state[sign_in.TOKEN_KEY] = actions.start_sign_in(Services.open(database), "bob",
                                                                 "account",
                                                                 1)[0]
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
        actions.accept_prefill(Services.open(database), video_id, "bob", ("AU1",), 0, 3, seen)
    with pytest.raises(actions.NewerPrefill):
        actions.set_label(Services.open(database), video_id, "bob", ("AU1",), 0, 3, 1, seen)
    assert actions.review_state(Services.open(database), video_id, "bob").reviewed.sum() == 0
