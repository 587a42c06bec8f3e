"""A project's reliability report: agreement between the coders of each double-coded video.

For every video of the project with two or more coders assigned, and every pair of them: per
AU Cohen's kappa, F1 and prevalence over the face frames both reviewed (model.metrics), per
video and pooled over the pair's videos. Prevalence is the share of "present" among both
coders' labels of those frames, so a kappa can be read against how rare the AU is.

`write_report` writes reliability.csv, progress.csv and report.html (a Plotly page: share of
the project's cells reviewed over time, per coder, and the pooled kappa per AU per pair).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

import db
from annotator.services.lab_projects import Progress, coded_subjects, progress
from model.au_sets import NOT_CODED, au_names
from model.files import atomic_path
from model.metrics import agreement_from_counts, confusion_counts

POOLED = "(pooled)"
FILES = ("reliability.csv", "progress.csv", "report.html")


@dataclass(frozen=True)
class PairCounts:
    """(K, 4) confusion counts of two coders on one video (both 1, only second 1, only first
    1, both 0)."""

    video: str
    first: str
    second: str
    counts: np.ndarray


def pair_counts(session: db.Session, name: str) -> tuple[tuple[str, ...], list[PairCounts]]:
    """(the project's AUs, counts of each coder pair on each double-coded video)."""
    project = db.projects.project_named(session, name)
    aus = au_names(project.au_set)
    by_video: dict[int, list] = {}
    for row in db.projects.assignments(session, project):
        by_video.setdefault(row.video_id, []).append(row)
    found = []
    for video_id, rows in by_video.items():
        video = db.get_video(session, video_id)
        for first, second in itertools.combinations(sorted(r.coder for r in rows), 2):
            counts = np.zeros((len(aus), 4), np.int64)
            for subject in coded_subjects(session, video_id):
                counts += confusion_counts(_reviewed(session, video, first, subject, project),
                                           _reviewed(session, video, second, subject, project))
            found.append(PairCounts(video.name, first, second, counts))
    return aus, found


def _reviewed(session, video, coder: str, subject: int, project) -> np.ndarray:
    labels = db.effective_labels(session, video, coder, subject, project.au_set)
    keep = labels.reviewed & labels.face[:, None]
    return np.where(keep, labels.labels, NOT_CODED)


def reliability_table(aus: tuple[str, ...], pairs: list[PairCounts]) -> pd.DataFrame:
    """One row per video (and POOLED) × coder pair × AU: frames, kappa, F1, prevalence."""
    pooled: dict[tuple[str, str], np.ndarray] = {}
    rows = []
    for pair in pairs:
        rows += _rows(aus, pair.video, pair.first, pair.second, pair.counts)
        key = (pair.first, pair.second)
        pooled[key] = pooled.get(key, 0) + pair.counts
    for (first, second), counts in sorted(pooled.items()):
        rows += _rows(aus, POOLED, first, second, counts)
    return pd.DataFrame(rows, columns=["video", "coder_a", "coder_b", "au", "frames", "kappa",
                                       "f1", "prevalence"])


def _rows(aus, video: str, first: str, second: str, counts: np.ndarray) -> list[dict]:
    agreement = agreement_from_counts(aus, counts)
    both, second_only, first_only, _ = counts.T.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        prevalence = (2 * both + second_only + first_only) / (2 * agreement.frames)
    return [{"video": video, "coder_a": first, "coder_b": second, "au": au,
             "frames": int(agreement.frames[k]), "kappa": float(agreement.kappa[k]),
             "f1": float(agreement.f1[k]), "prevalence": float(prevalence[k])}
            for k, au in enumerate(aus)]


def progress_table(states: list[Progress]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"video": s.assignment.video_name, "coder": s.assignment.coder,
          "role": s.assignment.role, "reviewed": s.reviewed, "cells": s.cells,
          "share": round(s.share, 4), "done": s.assignment.done} for s in states],
        columns=["video", "coder", "role", "reviewed", "cells", "share", "done"])


def review_times(session: db.Session, name: str) -> pd.DataFrame:
    """When each reviewed cell of the project was first reviewed: one row per (coder, time)
    with the cells reviewed then, and each coder's total cells (`cells`)."""
    project = db.projects.project_named(session, name)
    aus = au_names(project.au_set)
    rows = []
    for state in progress(session, name):
        row = state.assignment
        for subject in coded_subjects(session, row.video_id):
            face = db.effective_labels(session, db.get_video(session, row.video_id), None,
                                       subject, project.au_set).face
            times = _first_reviewed(session, row, subject, aus, face)
            values, counts = np.unique(times[~np.isnan(times)], return_counts=True)
            rows += [{"coder": row.coder, "time": t, "reviewed": int(n)}
                     for t, n in zip(values, counts, strict=True)]
        rows.append({"coder": row.coder, "time": np.nan, "reviewed": 0, "cells": state.cells})
    return pd.DataFrame(rows, columns=["coder", "time", "reviewed", "cells"])


def _first_reviewed(session, row, subject: int, aus, face: np.ndarray) -> np.ndarray:
    """(T, K) POSIX seconds when each face cell was first reviewed by an edit that still
    counts; NaN where it is not reviewed."""
    subject_id = db.subject_row(session, row.video_id, subject).id
    times = np.full((len(face), len(aus)), np.nan)
    events = db.projects.reviewed_events(session, row.video_id, row.coder, subject_id)
    for au, first, last, when in reversed(events):  # older events painted last: they win
        if au in aus:
            times[first:last + 1, aus.index(au)] = when.timestamp()
    times[~face] = np.nan
    return times


def report_figure(times: pd.DataFrame, table: pd.DataFrame) -> str:
    """The report page: progress over time per coder, and pooled kappa per AU per pair."""
    over_time = go.Figure()
    for coder, rows in times.groupby("coder"):
        cells = max(int(rows["cells"].sum()), 1)
        done = rows.dropna(subset=["time"]).sort_values("time")
        when = [datetime.fromtimestamp(t).astimezone() for t in done["time"]]
        over_time.add_scatter(x=when, y=done["reviewed"].cumsum() / cells, name=coder,
                              mode="lines+markers", line_shape="hv")
    over_time.update_layout(title="Share of assigned face frame × AU cells reviewed",
                            yaxis={"tickformat": ".0%", "range": [0, 1]})
    kappa = go.Figure()
    for (first, second), rows in table[table["video"] == POOLED].groupby(["coder_a", "coder_b"]):
        kappa.add_bar(x=rows["au"], y=rows["kappa"], name=f"{first} × {second}")
    kappa.update_layout(title="Cohen's kappa per AU (pooled over double-coded videos)",
                        barmode="group", yaxis={"range": [-1, 1]})
    return ("<html><head><meta charset='utf-8'><title>Project report</title></head><body>"
            + over_time.to_html(full_html=False, include_plotlyjs=True)
            + kappa.to_html(full_html=False, include_plotlyjs=False) + "</body></html>")


def write_report(session: db.Session, name: str, out: Path) -> list[Path]:
    """Write the project's report files into `out`; returns their paths."""
    aus, pairs = pair_counts(session, name)
    table = reliability_table(aus, pairs)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / file for file in FILES]
    texts = (table.to_csv(index=False, float_format="%.4f"),
             progress_table(progress(session, name)).to_csv(index=False),
             report_figure(review_times(session, name), table))
    for path, text in zip(paths, texts, strict=True):
        with atomic_path(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    return paths
