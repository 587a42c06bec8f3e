"""AU timelines as one Plotly figure: a row per AU on a shared frame axis.

Each row holds a label band (colour = the effective label and where it came from: the model's
unreviewed pre-fill, reviewed, or corrected by the coder) and the smoothed probability as a line
with the AU's threshold dashed. One figure for all rows keeps a box selection simple: its x range
is the frames, its y centre is the AU row.

Long videos are drawn downsampled to at most `max_columns` columns: a column shows the most
telling code of its frames (corrections over reviewed over pre-fill, present over absent) and
the mean probability of its face frames. Only the drawing is downsampled; labels are stored
and exported per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from model.au_sets import ABSENT, NOT_CODED, PRESENT

MAX_COLUMNS = 1500
CLICK_TARGETS = 1500  # seek bar markers: a click lands on the nearest one
ROW_HEIGHT_PX = 40
LINE_BOTTOM, LINE_SPAN = 0.1, 0.8  # the probability line's place inside its row (0..1)

# band codes, ordered so that the largest code in a downsampled column is the one to show
BAND_LEGEND: tuple[tuple[str, str], ...] = (
    ("#e3e3e3", "no face / not coded (pre-fill)"),
    ("#f7fbff", "absent (pre-fill)"),
    ("#9ecae1", "present (pre-fill)"),
    ("#c7e9c0", "absent (reviewed)"),
    ("#2171b5", "present (reviewed)"),
    ("#737373", "not codable (coder)"),
    ("#fdd0a2", "absent (corrected)"),
    ("#e6550d", "present (corrected)"),
)


# A row counts as boxed when the box reaches this far into it (a box that only grazes the
# neighbouring row keeps to its own); a box lying inside one row selects that row.
ROW_GRAZE = 0.15


@dataclass(frozen=True)
class TimelineSelection:
    """What a box selection or a click on the timelines picked."""

    first_frame: int
    last_frame: int
    aus: tuple[str, ...]  # the AU rows boxed, top to bottom; empty for a click
    is_range: bool  # False for a click (it only moves the player)


def band_codes(labels: np.ndarray, reviewed: np.ndarray, prefill: np.ndarray) -> np.ndarray:
    """(T, K) uint8 codes into BAND_LEGEND."""
    unreviewed = np.select([labels == PRESENT, labels == ABSENT], [2, 1], 0)
    corrected = (labels != prefill) & (labels != NOT_CODED)
    coded = np.select([labels == PRESENT, labels == ABSENT], [4, 3], 5) + 3 * corrected
    return np.where(reviewed, coded, unreviewed).astype(np.uint8)


def downsample(codes: np.ndarray, probabilities: np.ndarray, max_columns: int = MAX_COLUMNS):
    """(bucket, codes (C, K) max per bucket, probabilities (C, K) mean of face frames)."""
    frames = len(codes)
    bucket = max(1, math.ceil(frames / max_columns))
    if bucket == 1:
        return 1, codes, probabilities
    columns = math.ceil(frames / bucket)
    pad = columns * bucket - frames
    codes = np.pad(codes, ((0, pad), (0, 0))).reshape(columns, bucket, -1).max(axis=1)
    padded = np.pad(probabilities, ((0, pad), (0, 0)), constant_values=np.nan)
    grouped = padded.reshape(columns, bucket, -1)
    valid = ~np.isnan(grouped)
    counts = valid.sum(axis=1)
    sums = np.where(valid, grouped, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    return bucket, codes, means.astype(np.float32)


def timeline_figure(
    aus: tuple[str, ...], probabilities: np.ndarray, codes: np.ndarray, thresholds: np.ndarray,
    current_frame: int | None, selected_aus: tuple[str, ...] = (),
    selected_range: tuple[int, int] | None = None, max_columns: int = MAX_COLUMNS,
) -> go.Figure:
    """The timelines of all AUs; probabilities (T, K) smoothed, NaN = no face. The current
    frame is marked unless it is None (the coder's player draws its own playhead)."""
    frames, count = codes.shape
    bucket, shown_codes, shown_probs = downsample(codes, probabilities, max_columns)
    columns = len(shown_codes)
    centres = np.arange(columns) * bucket + (bucket - 1) / 2.0
    bases = count - 1 - np.arange(count)  # row k spans y in [bases[k], bases[k] + 1]
    figure = go.Figure(
        [_band_trace(shown_codes, bucket, bases),
         _probability_trace(centres, shown_probs, bases),
         _threshold_trace(frames, thresholds, bases)]
    )
    shapes = _frame_marker(current_frame, count)
    for au in (au for au in selected_aus if au in aus):
        row = bases[aus.index(au)]
        shapes.append(dict(type="rect", x0=-0.5, x1=frames - 0.5, y0=row, y1=row + 1,
                           line=dict(color="#444", width=1.5), fillcolor="rgba(0,0,0,0)"))
        if selected_range is not None:
            first, last = selected_range
            shapes.append(dict(type="rect", x0=first - 0.5, x1=last + 0.5, y0=row, y1=row + 1,
                               line=dict(width=0), fillcolor="rgba(255,200,0,0.35)"))
    figure.update_layout(
        height=50 + ROW_HEIGHT_PX * count, margin=dict(l=55, r=10, t=8, b=40),
        # "d": every drag is a box at the height it was drawn, however flat (Plotly's default
        # turns a flat drag into a band over all rows, losing the row it started in)
        dragmode="select", selectdirection="d", showlegend=False, shapes=shapes,
        hovermode="closest",
        xaxis=dict(range=[-0.5, frames - 0.5], title="frame", showgrid=False, zeroline=False),
        yaxis=dict(range=[0, count], tickvals=bases + 0.5, ticktext=list(aus),
                   showgrid=False, zeroline=False),
        plot_bgcolor="white",
    )
    return figure


def seek_bar_figure(frames: int, fps: float, current_frame: int | None) -> go.Figure:
    """A thin bar over the frame axis; a click on it goes to that frame.

    Streamlit turns clicks into point selections only while the chart drags in "pan" mode (in
    "select" mode a drag draws a box), so clicking lives here and boxes on the timelines.
    Invisible markers, one per frame up to CLICK_TARGETS, catch the click.
    """
    xs = np.unique(np.linspace(0, max(frames - 1, 0), min(frames, CLICK_TARGETS)).round())
    seconds = xs / fps if fps > 0 else xs
    targets = go.Scatter(
        x=xs, y=np.full(len(xs), 0.5), mode="markers", customdata=seconds,
        marker=dict(size=14, opacity=0), hovertemplate="go to frame %{x:.0f} "
        "(%{customdata:.2f} s)<extra></extra>",
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
    )
    figure = go.Figure([targets])
    figure.update_layout(
        height=60, margin=dict(l=55, r=10, t=4, b=4), dragmode="pan", showlegend=False,
        plot_bgcolor="#f0f2f6",
        shapes=_frame_marker(current_frame, 1),
        xaxis=dict(range=[-0.5, frames - 0.5], fixedrange=True, showgrid=False,
                   zeroline=False, showticklabels=False),
        yaxis=dict(range=[0, 1], fixedrange=True, showgrid=False, zeroline=False,
                   tickvals=[0.5], ticktext=["go to"]),
    )
    return figure


def selection_from_event(selection: dict | None, frame_count: int,
                         aus: tuple[str, ...]) -> TimelineSelection | None:
    """Frames (and AU row) of a Streamlit plotly selection: a box, else a clicked point."""
    if not selection:
        return None
    boxes = selection.get("box") or []
    if boxes and boxes[0].get("x"):
        xs, ys = boxes[0]["x"], boxes[0].get("y") or [0.0, 0.0]
        first = max(0, math.ceil(min(xs) - 0.5))
        last = min(frame_count - 1, math.floor(max(xs) + 0.5))
        if first > last:
            return None
        return TimelineSelection(first, last, aus_in(min(ys), max(ys), aus), True)
    points = selection.get("points") or []
    if points and points[0].get("x") is not None:
        frame = int(min(max(round(float(points[0]["x"])), 0), frame_count - 1))
        return TimelineSelection(frame, frame, (), False)
    return None


def aus_in(low: float, high: float, aus: tuple[str, ...]) -> tuple[str, ...]:
    """The AUs whose rows the heights low..high reach into (more than ROW_GRAZE of a row), top
    to bottom; the row of the middle when the box is that thin."""
    rows = [row for row in range(len(aus))
            if min(high, row + 1) - max(low, row) > ROW_GRAZE]
    if not rows:
        return (au_at((low + high) / 2, aus),)
    return tuple(aus[len(aus) - 1 - row] for row in sorted(rows, reverse=True))


def au_at(y: float, aus: tuple[str, ...]) -> str:
    """The AU whose row holds height y (rows from the top in AU order)."""
    row = int(min(max(math.floor(y), 0), len(aus) - 1))
    return aus[len(aus) - 1 - row]


def _band_trace(codes: np.ndarray, bucket: int, bases: np.ndarray) -> go.Heatmap:
    steps = len(BAND_LEGEND)
    scale = []
    for code, (colour, _) in enumerate(BAND_LEGEND):
        scale += [[code / steps, colour], [(code + 1) / steps, colour]]
    return go.Heatmap(
        z=codes.T, x0=(bucket - 1) / 2.0, dx=bucket, y=bases + 0.5, zmin=-0.5,
        zmax=steps - 0.5, colorscale=scale, showscale=False, hoverinfo="skip",
    )


def _probability_trace(centres: np.ndarray, probabilities: np.ndarray,
                       bases: np.ndarray) -> go.Scatter:
    count = len(bases)
    gap = np.full((1, count), np.nan, np.float32)
    heights = bases + LINE_BOTTOM + LINE_SPAN * probabilities  # (C, K)
    ys = np.concatenate([heights, gap]).T.ravel()  # rows one after another, NaN between
    xs = np.tile(np.append(centres, np.nan), count)
    return go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#252525", width=1),
                      hoverinfo="skip", connectgaps=False)


def _threshold_trace(frames: int, thresholds: np.ndarray, bases: np.ndarray) -> go.Scatter:
    heights = bases + LINE_BOTTOM + LINE_SPAN * np.asarray(thresholds, np.float64)
    xs = np.tile([-0.5, frames - 0.5, np.nan], len(bases))
    ys = np.stack([heights, heights, np.full(len(bases), np.nan)], axis=1).ravel()
    return go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip",
                      line=dict(color="#d62728", width=1, dash="dot"))


def _frame_marker(frame: int | None, count: int) -> list[dict]:
    if frame is None:
        return []
    return [dict(type="line", x0=frame, x1=frame, y0=0, y1=count,
                 line=dict(color="#d62728", width=2))]
