"""The page's learning widgets: "Learn from my corrections" with its auto switch, what the
pre-fill learnt (a cross-validated estimate per AU), and the review queue behind "Review next".

Learning runs in a server thread (annotator.jobs); a fragment polls it and reruns the page when
it ends, so the timelines show the new pre-fill. What was learnt is read from the newest run
itself, so it survives a reload or a restart of the server.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from annotator import jobs
from annotator.learning.adaptation import describe_report
from annotator.services import actions
from annotator.services.context import Services
from model.adapt import AUReport

QUEUE_SHOWN = 20


def learn_ui(services: Services, video_id: int, state: actions.ReviewState,
             subject: int) -> None:
    button, auto = st.columns([3, 1], vertical_alignment="center")
    button.button("Learn from my corrections", on_click=jobs.start_adaptation,
                  args=(services, video_id), width="stretch",
                  help="fits the pre-fill of this video to the frames you reviewed (every "
                       "coder's; other videos' reviewed frames help); your labels stay")
    auto.toggle("auto", key="auto_learn",
                help="learn again in the background after every correction")
    last = jobs.adaptation_state(services, video_id)
    if last is not None and last.running:
        learning_progress_ui(services, video_id)
    elif last is not None and last.state == "failed":
        st.error(f"Learning failed: {last.message}")
    reports = _job_reports(last, subject)
    if reports is None:  # learnt before the job kept its reports: the newest run has them
        reports = actions.learnt_reports(services, state.run_id) if state.prior_run_id else []
    if reports:
        learnt_ui(reports)


def _job_reports(job: jobs.JobStatus | None, subject: int) -> list[dict] | None:
    """The per-AU reports of the video's last finished learning, for this subject."""
    if job is None or job.state != "done" or not job.result or "reports" not in job.result:
        return None
    return job.result["reports"].get(str(subject), [])


def learn_after_correction(services: Services, video_id: int) -> None:
    """Called after every stored correction: learn again when the auto switch is on."""
    if st.session_state.get("auto_learn"):
        jobs.start_adaptation(services, video_id)


@st.fragment(run_every=0.5)
def learning_progress_ui(services: Services, video_id: int) -> None:
    running = jobs.adaptation_state(services, video_id)
    if running is None or not running.running:
        st.rerun()  # the whole page: the timelines show what was learnt
    st.caption("Learning from the reviewed frames… (keep coding)")


def learnt_ui(reports: list[dict]) -> None:
    """What the last learning did, per AU, in the words of `au-annotator adapt`; it stays on
    the page (it is read from the stored job) until the next learning replaces it."""
    adapted = [r["au"] for r in reports if r["adapted"]]
    kept = [r["au"] for r in reports if not r["adapted"]]
    if adapted:
        title = f"Learnt {', '.join(adapted)}" + (f"; kept the pre-fill of {', '.join(kept)}"
                                                  if kept else "")
    else:
        title = "Nothing learnt: every AU keeps the model's pre-fill (why below)"
    with st.expander(title, expanded=True):
        st.table(learnt_table(reports))
        st.caption("Estimates: fitted on some reviewed stretches, checked on the others (the "
                   "share of those frames the learnt pre-fill and its prior get right).")


def learnt_table(reports: list[dict]) -> pd.DataFrame:
    """One row per AU, narrow enough to read without scrolling sideways (the sentence
    wraps)."""
    return pd.DataFrame(
        [{"AU": r["au"], "": "learnt" if r["adapted"] else "kept",
          "what happened": describe_report(AUReport(**r))} for r in reports]
    ).set_index("AU")


def review_next(items: list[actions.ReviewItem]) -> None:
    """Go to the queue's first stretch: frame, label range and AU."""
    if not items:
        st.session_state["notice"] = "Nothing left in the review queue."
        return
    go_to(items[0])


def go_to(item: actions.ReviewItem) -> None:
    st.session_state.update(frame=item.first_frame, first=item.first_frame,
                            last=item.last_frame, au=item.au, aus=(item.au,),
                            notice=f"Review: {item.au}, frames {item.first_frame}–"
                                   f"{item.last_frame} ({item.reason}).")


def _queue_chosen(shown: list[actions.ReviewItem]) -> None:
    chosen = st.session_state["queue"].selection.rows
    if chosen:
        go_to(shown[chosen[0]])


def queue_ui(items: list[actions.ReviewItem]) -> None:
    """The panel: the next stretches to review; choosing a row goes there."""
    if not items:
        st.info("Nothing to review: every unreviewed stretch is far from its threshold.")
        return
    shown = items[:QUEUE_SHOWN]
    table = pd.DataFrame([{"AU": i.au, "frames": f"{i.first_frame}–{i.last_frame}",
                           "why": i.reason} for i in shown])
    st.dataframe(table, hide_index=True, key="queue", selection_mode="single-row",
                 on_select=partial(_queue_chosen, shown))
    st.caption("R (Review next) goes to the first; the queue follows every correction.")


def expression_ui(services: Services, video_id: int, subject: int, frame: int,
                  aus: tuple[str, ...]) -> None:
    """One caption: what the expression network sees in the current frame, and the AUs that
    evidence pushes the pre-fill towards (the fusion table, docs/first_guess.md)."""
    seen = actions.expression_at(services, video_id, subject, frame, aus)
    if seen is None:
        return
    named = " · ".join(f"{name} {value:.2f}" for name, value in seen.strongest)
    towards = f" → evidence for {', '.join(seen.implies)}" if seen.implies else ""
    st.caption(f"Expression at frame {frame}: {named}{towards}")
