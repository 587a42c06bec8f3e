"""Timelines: what each band colour means, downsampling of long videos, reading selections."""

from __future__ import annotations

import numpy as np

from annotator.ui.timeline import (
    BAND_LEGEND,
    au_at,
    band_codes,
    downsample,
    selection_from_event,
    timeline_figure,
)

AUS = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")


def legend(code: int) -> str:
    return BAND_LEGEND[code][1]


def test_band_tells_prefill_reviewed_and_corrected_apart():
    prefill = np.array([[1], [0], [1], [0], [-1], [1]], np.int8)
    labels = np.array([[1], [0], [1], [1], [-1], [-1]], np.int8)
    reviewed = np.array([[False], [False], [True], [True], [False], [True]])
    codes = band_codes(labels, reviewed, prefill)[:, 0]
    assert [legend(c) for c in codes] == [
        "present (pre-fill)", "absent (pre-fill)", "present (reviewed)", "present (corrected)",
        "no face / not coded (pre-fill)", "not codable (coder)"]


def test_a_30_minute_video_is_drawn_in_at_most_1500_columns_keeping_short_corrections():
    frames = 30 * 60 * 30
    codes = np.zeros((frames, 2), np.uint8)
    codes[40_000, 1] = 7  # a one-frame correction
    probabilities = np.full((frames, 2), 0.25, np.float32)
    probabilities[:36] = np.nan  # no face at the start
    bucket, shown_codes, shown = downsample(codes, probabilities)
    assert len(shown_codes) <= 1500 and bucket == 36
    assert shown_codes[40_000 // bucket, 1] == 7
    assert np.isnan(shown[0]).all() and np.allclose(shown[1:], 0.25)


def test_the_figure_has_a_row_per_au_and_marks_the_current_frame():
    frames = 100
    probabilities = np.random.default_rng(0).random((frames, 8), dtype=np.float32)
    codes = np.zeros((frames, 8), np.uint8)
    figure = timeline_figure(AUS, probabilities, codes, np.full(8, 0.5), 42, ("AU4",),
                             (10, 20))
    assert list(figure.layout.yaxis.ticktext) == list(AUS)
    marker = figure.layout.shapes[0]
    assert (marker.x0, marker.x1) == (42, 42)
    assert figure.layout.dragmode == "select"


def test_a_box_in_one_row_selects_its_frames_and_au():
    chosen = selection_from_event(
        {"box": [{"x": [9.6, 20.4], "y": [5.2, 5.8]}], "points": []}, 100, AUS)
    assert (chosen.first_frame, chosen.last_frame, chosen.aus) == (10, 20, ("AU4",))


def test_a_flat_drag_selects_the_row_it_was_drawn_in():
    chosen = selection_from_event({"box": [{"x": [0.4, 30.0], "y": [3.51, 3.52]}]}, 100, AUS)
    assert (chosen.first_frame, chosen.last_frame, chosen.aus) == (0, 30, ("AU12",))


def test_a_box_over_several_rows_selects_each_of_them_top_to_bottom():
    chosen = selection_from_event({"box": [{"x": [0, 9], "y": [2.1, 4.6]}]}, 100, AUS)
    assert chosen.aus == ("AU6", "AU12", "AU15")  # rows 4 (AU6) to 2 (AU15)
    grazing = selection_from_event({"box": [{"x": [0, 9], "y": [2.9, 4.05]}]}, 100, AUS)
    assert grazing.aus == ("AU12",)  # a tenth of AU15's row and a twentieth of AU6's: no


def test_the_figure_keeps_flat_drags_as_boxes():
    figure = timeline_figure(AUS, np.zeros((10, 8), np.float32), np.zeros((10, 8), np.uint8),
                             np.full(8, 0.5), 0)
    assert figure.layout.selectdirection == "d"


def test_a_click_on_a_line_moves_to_its_frame():
    chosen = selection_from_event({"box": [], "points": [{"x": 57.0, "y": 3.4}]}, 100, AUS)
    assert (chosen.first_frame, chosen.is_range, chosen.aus) == (57, False, ())


def test_rows_run_from_the_first_au_at_the_top():
    assert au_at(7.5, AUS) == "AU1" and au_at(0.2, AUS) == "AU25"
