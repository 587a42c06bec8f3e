"""The coder's workflow in the real app script, driven by Streamlit's AppTest.

One database for the module: a coder signs in, opens (processes) the demo clip, corrects a
range, undoes it, exports; later tests reopen the same database as a fresh page would.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import streamlit as st
from helpers.polling import poll_until, rerun_until
from streamlit.testing.v1 import AppTest

import db
from annotator.services import Services, actions
from annotator.ui import sign_in

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"
PROCESSING_LIMIT_S = 180


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'annotations.sqlite3'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AU_ANNOTATOR_DB", url)
        st.cache_resource.clear()  # the app's settings (its database) are a cached resource
        yield url


def page(coder: str | None = None, **query) -> AppTest:
    """The app as a browser tab of `coder` (already signed in: their sign-in token is in the
    server-side session) with `query` in its address."""
    app = AppTest.from_file(str(APP), default_timeout=60)
    if coder is not None:
        app.session_state[sign_in.TOKEN_KEY] = actions.start_sign_in(
            Services.open(os.environ["AU_ANNOTATOR_DB"]), coder, "name only", 1)[0]
    for name, value in query.items():
        app.query_params[name] = str(value)
    return app.run()


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def open_demo(app: AppTest) -> AppTest:
    button(app, "Open the demo clip").click().run()
    rerun_until(app, lambda page: "job" not in page.query_params, PROCESSING_LIMIT_S, 0.5)
    assert not app.exception
    assert "video" in app.query_params, [e.value for e in app.sidebar.error]
    return app


def image_captions(app: AppTest) -> list[str]:
    return [image.proto.imgs[0].caption for image in app.get("image")]


def player_data(app: AppTest) -> dict:
    """What the page hands the coder's player (a custom component) on this run."""
    return json.loads(app.get("bidi_component")[0].proto.json)


def export_preview(app: AppTest) -> list[str]:
    """The first lines of the Aff-Wild2 label file the export panel offers."""
    app.radio(key="panel").set_value("Export").run()
    return app.code[0].value.splitlines()


@pytest.fixture(scope="module")
def demo_open(database) -> dict:
    """The demo clip processed through the app by coder alice: the page's query parameters."""
    app = page()
    app.text_input[0].input("alice")
    button(app, "Start coding").click().run()
    assert "Coding as alice (admin)" in [t.value for t in app.sidebar.text]
    assert "coder" not in app.query_params  # nobody becomes alice by editing an address
    open_demo(app)
    return {"coder": "alice", "video": app.query_params["video"]}


@pytest.mark.slow
def test_naming_yourself_stores_you_as_a_coder(demo_open, database):
    with db.open_database(database).begin() as session:
        assert session.query(db.Coder).filter_by(name="alice").count() == 1


@pytest.mark.slow
def test_processing_the_demo_opens_it_with_its_frames(demo_open, database):
    app = page(**demo_open)
    assert "WolfgangLanger_Pexels" in app.subheader[0].value
    assert "472 frames" in app.subheader[0].value
    assert "frame 0 of 471 · 0.000 s · subject 1's face" in [c.value for c in app.caption]
    assert image_captions(app)[:2] == ["network input: gray", "network input: edges"]
    data = player_data(app)
    assert (data["frames"], data["frame"]) == (472, 0)
    assert data["video"].startswith("/api/videos/") and data["video"].endswith("/video")


@pytest.mark.slow
def test_a_corrected_range_is_stored_at_once_and_exported(demo_open):
    app = page(**demo_open)
    before = export_preview(app)
    app.radio(key="au").set_value("AU12")
    app.number_input(key="first").set_value(2)
    app.number_input(key="last").set_value(6).run()
    button(app, "Present").click().run()
    assert "Stored: AU12, frames 2–6 present." in [c.value for c in app.caption]
    # a new page (a reload) reads the same database: the correction is there, no save needed
    after = export_preview(page(**demo_open))
    assert after[0] == "AU1,AU2,AU4,AU6,AU12,AU15,AU20,AU25"
    au12 = [line.split(",")[4] for line in after[1:12]]
    assert au12[2:7] == ["1"] * 5
    assert after[1:3] == before[1:3] and after[8:12] == before[8:12]


@pytest.mark.slow
def test_undo_and_redo_revert_and_restore_the_last_correction(demo_open):
    app = page(**demo_open)
    app.radio(key="au").set_value("AU25")
    app.number_input(key="first").set_value(0)
    app.number_input(key="last").set_value(3).run()
    button(app, "Not codable").click().run()
    corrected = export_preview(app)
    assert [line.split(",")[7] for line in corrected[1:5]] == ["-1"] * 4
    button(app, "Undo").click().run()
    assert "Undone." in [c.value for c in app.caption]
    undone = export_preview(app)
    assert [line.split(",")[7] for line in undone[1:5]] != ["-1"] * 4
    button(app, "Redo").click().run()
    assert export_preview(app)[1:5] == corrected[1:5]


@pytest.mark.slow
def test_history_lists_corrections_with_coder(demo_open):
    app = page(**demo_open)
    app.radio(key="au").set_value("AU1")
    app.number_input(key="first").set_value(10)
    app.number_input(key="last").set_value(20).run()
    button(app, "Absent").click().run()
    app.radio(key="panel").set_value("History").run()
    history = app.dataframe[0].value
    newest = history.iloc[0]
    assert (newest["coder"], newest["AU"], newest["frames"], newest["value"]) == (
        "alice", "AU1", "10–20", "absent")


@pytest.mark.slow
def test_csv_export_has_a_row_per_frame(demo_open):
    app = page(**demo_open)
    app.radio(key="panel").set_value("Export").run()
    format_radio = next(r for r in app.radio if r.label == "Format")
    format_radio.set_value("openface-csv").run()
    lines = app.code[0].value.splitlines()
    assert lines[0].startswith("frame,face_id,timestamp,confidence,success,x_0,x_1,")
    assert "AU12_c" in lines[0].split(",")
    assert [line.split(",")[0] for line in lines[1:4]] == ["1", "2", "3"]


@pytest.mark.slow
def test_reopening_a_processed_video_is_instant(demo_open):
    app = page(coder="alice")
    started = time.monotonic()
    open_demo(app)
    assert time.monotonic() - started < 5
    assert app.query_params["video"] == demo_open["video"]


@pytest.mark.slow
def test_typing_a_frame_or_a_range_field_moves_the_player_there(demo_open):
    app = page(**demo_open)
    seek = player_data(app)["seek"]
    app.number_input(key="frame").set_value(35).run()
    assert (player_data(app)["frame"], player_data(app)["seek"]) == (35, seek + 1)
    assert "frame 35 of 471 · 1.460 s · subject 1's face" in [c.value for c in app.caption]
    app.number_input(key="last").set_value(60).run()
    assert (player_data(app)["frame"], player_data(app)["range"]) == (60, [0, 60])
    app.number_input(key="first").set_value(40).run()
    assert (player_data(app)["frame"], player_data(app)["range"]) == (40, [40, 60])
    assert player_data(app)["seek"] == seek + 3


@pytest.mark.slow
def test_changing_the_threshold_changes_what_exports(demo_open):
    app = page(**demo_open)
    app.radio(key="au").set_value("AU20").run()
    slider = next(s for s in app.slider if s.label == "Threshold of AU20")
    slider.set_value(0.0).run()
    assert {line.split(",")[6] for line in export_preview(app)[1:12]} == {"1"}
    slider = next(s for s in app.slider if s.label == "Threshold of AU20")
    slider.set_value(1.0).run()
    assert {line.split(",")[6] for line in export_preview(app)[1:12]} == {"0"}


def _learnt_report(app: AppTest):
    """The report of the last learning: its title, and its table (None while there is none)."""
    return next(((e.label, e.table[0].value) for e in app.expander
                 if e.label.startswith(("Learnt ", "Nothing learnt"))), ("", None))


def _latest_run(database: str, video: str):
    with db.open_database(database).begin() as session:
        run = db.latest_prediction_run(session, int(video))
        return run.id, db.run_parameters(run)


def _wait_for_learning(app: AppTest, database: str, video: str) -> AppTest:
    from annotator import jobs

    poll_until(lambda: jobs.adaptation_state(Services.open(database), int(video)),
               lambda state: state is not None and not state.running, PROCESSING_LIMIT_S, 0.2,
               "learning finishing")
    return app.run()


def _mark(app: AppTest, au: str, first: int, last: int, value: str) -> AppTest:
    app.radio(key="au").set_value(au)
    app.number_input(key="first").set_value(first)
    app.number_input(key="last").set_value(last).run()
    return button(app, value).click().run()


@pytest.mark.slow
def test_learning_from_my_corrections_changes_the_prefill_and_says_what_it_learnt(demo_open,
                                                                                 database):
    app = page(**demo_open)
    _mark(app, "AU12", 0, 50, "Absent")  # crying: corners down
    _mark(app, "AU12", 300, 350, "Present")  # laughing
    button(app, "Learn from my corrections").click().run()
    _wait_for_learning(app, database, demo_open["video"])
    title, table = _learnt_report(app)
    assert title.startswith("Learnt ") and "AU12" in title.split(";")[0]
    assert "kept the pre-fill of" in title
    _, parameters = _latest_run(database, demo_open["video"])
    assert parameters.predictor == "adapted"
    report = next(r for r in parameters.details["reports"] if r["au"] == "AU12")
    assert report["adapted"] and report["reviewed_frames"] == 102
    # every AU has a row, in the words `au-annotator adapt` prints
    assert len(table) == 8
    assert table.loc["AU12", ""] == "learnt"
    assert table.loc["AU12", "what happened"].startswith("reviewed 102 frames")
    assert table.loc["AU20", ""] == "kept"
    assert table.loc["AU20", "what happened"].endswith(f": {_reason(parameters, 'AU20')}")


def _reason(parameters, au: str) -> str:
    return next(r["reason"] for r in parameters.details["reports"] if r["au"] == au)


@pytest.mark.slow
def test_auto_learning_follows_every_correction(demo_open, database):
    app = page(**demo_open)
    app.toggle(key="auto_learn").set_value(True).run()
    before, _ = _latest_run(database, demo_open["video"])
    _mark(app, "AU6", 320, 380, "Present")
    _wait_for_learning(app, database, demo_open["video"])
    after, parameters = _latest_run(database, demo_open["video"])
    assert after != before and parameters.predictor == "adapted"
    report = next(r for r in parameters.details["reports"] if r["au"] == "AU6")
    assert report["reviewed_frames"] >= 61  # the correction just made was learnt from


def _queue(app: AppTest):
    return next(d.value for d in app.dataframe if list(d.value.columns) == ["AU", "frames", "why"])


@pytest.mark.slow
def test_review_next_goes_to_the_least_certain_stretch_and_the_queue_follows(demo_open):
    app = page(**demo_open)
    app.radio(key="panel").set_value("Review queue").run()
    queue = _queue(app)
    au, frames = queue.iloc[0]["AU"], queue.iloc[0]["frames"]
    first, last = (int(v) for v in frames.split("–"))
    button(app, "Review next").click().run()
    assert (app.session_state["au"], app.session_state["first"], app.session_state["last"]) \
        == (au, first, last)
    assert any(c.value.startswith(f"Review: {au}, frames {first}–{last}") for c in app.caption)
    button(app, "Absent").click().run()  # reviewed now: it leaves the queue
    after = _queue(app)
    assert not ((after["AU"] == au) & (after["frames"] == frames)).any()


def test_the_page_says_what_the_expression_network_sees_in_the_current_frame(demo_open):
    app = page(**demo_open)
    app.number_input(key="frame").set_value(330).run()  # laughing
    captions = [c.value for c in app.caption if c.value.startswith("Expression at frame")]
    assert captions and captions[0].startswith("Expression at frame 330: happy ")
    assert captions[0].endswith("→ evidence for AU6, AU12, AU25")
    app.number_input(key="frame").set_value(30).run()  # crying
    captions = [c.value for c in app.caption if c.value.startswith("Expression at frame")]
    assert captions[0].startswith("Expression at frame 30: sad") and "AU4" in captions[0]
