"""Accounts coders sign in with: `au-annotator coder add | list | disable`, password checks,
and the app refusing to serve beyond this computer without them."""

from __future__ import annotations

import io

import pytest

import db
from annotator.cli import main
from annotator.commands.app import sign_in_refusal
from annotator.services import Services


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'annotations.sqlite3'}"


def add(url: str, name: str, password: str, monkeypatch, *flags: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["coder", "add", name, *flags, "--password-stdin", "--db", url])


def test_an_added_account_signs_in_with_its_password_only(url, monkeypatch, capsys):
    assert add(url, "alice", "correct horse", monkeypatch, "--admin") == 0
    assert capsys.readouterr().out.strip() == "account alice (admin) added"
    with db.open_database(url).begin() as session:
        coder = db.signed_in(session, "alice", "correct horse")
        assert coder is not None and coder.is_admin
        assert coder.password_hash.startswith("$argon2")  # never the password itself
        assert db.signed_in(session, "alice", "wrong horse") is None
        assert db.signed_in(session, "mallory", "correct horse") is None


def test_a_name_only_coder_keeps_their_labels_when_given_an_account(url, monkeypatch):
    with db.open_database(url).begin() as session:
        video = db.register_video(session, content_hash="e" * 64, path="/v/clip.mp4", fps=30,
                                  frame_count=5, width=64, height=64)
        db.correct(session, video, "bob", "AU1", 0, 4, 1)
    assert add(url, "bob", "long enough", monkeypatch) == 0
    with db.open_database(url).begin() as session:
        labels = db.effective_labels(session, db.get_video(session, 1), "bob")
        assert labels.reviewed[:, 0].all()


def test_list_and_disable(url, monkeypatch, capsys):
    add(url, "alice", "correct horse", monkeypatch, "--admin")
    with db.open_database(url).begin() as session:
        db.coder_named(session, "importer")  # a name-only coder, as an import makes
    capsys.readouterr()
    assert main(["coder", "list", "--db", url]) == 0
    assert capsys.readouterr().out.splitlines() == ["alice\taccount, admin",
                                                    "importer\tname only"]
    assert main(["coder", "disable", "alice", "--db", url]) == 0
    with db.open_database(url).begin() as session:
        assert db.signed_in(session, "alice", "correct horse") is None
        assert not db.accounts_exist(session)


@pytest.mark.parametrize("password, problem", [
    ("short", "at least 8 characters"), ("correct horse", "already has an account")])
def test_a_refused_account_is_one_line_and_exit_2(url, monkeypatch, capsys, password, problem):
    add(url, "alice", "correct horse", monkeypatch)
    capsys.readouterr()
    assert add(url, "alice", password, monkeypatch) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and problem in error


def test_serving_beyond_localhost_needs_an_account(url, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no user-wide Streamlit secrets (OIDC)
    assert sign_in_refusal("localhost", Services.open(url)) is None
    assert main(["app", "--address", "0.0.0.0", "--db", url]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "au-annotator coder add NAME --admin" in error
    add(url, "alice", "correct horse", monkeypatch, "--admin")
    assert sign_in_refusal("0.0.0.0", Services.open(url)) is None
