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

from annotator import actions, jobs

QUEUE_SHOWN = 20
# Streamlit keeps R (rerun) and C (clear cache) from button shortcuts, so R reaches "Review
# next" through this listener; it runs first (capture phase) and stops Streamlit's rerun.
_REVIEW_KEY_SCRIPT = """<script>
(function () {
  if (window.auReviewKey) return;
  window.auReviewKey = true;
  window.addEventListener("keydown", function (event) {
    if ((event.key !== "r" && event.key !== "R") || event.ctrlKey || event.metaKey ||
        event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable ||
        /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var button = Array.from(document.querySelectorAll("button")).find(function (b) {
      return b.innerText.trim() === "Review next";
    });
    if (!button) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    button.click();
  }, true);
})();
</script>"""


def learn_ui(database_url: str, video_id: int, state: actions.ReviewState) -> None:
    button, auto = st.columns([3, 1], vertical_alignment="center")
    button.button("Learn from my corrections", on_click=jobs.start_adaptation,
                  args=(database_url, video_id), width="stretch",
                  help="fits the pre-fill of this video to the frames you reviewed (every "
                       "coder's; other videos' reviewed frames help); your labels stay")
    auto.toggle("auto", key="auto_learn",
                help="learn again in the background after every correction")
    running = jobs.adaptation_state(database_url, video_id)
    if running is not None and running.running:
        learning_progress_ui(database_url, video_id)
    elif running is not None and running.state == "failed":
        st.error(running.message)
    learnt_ui(database_url, state)


def learn_after_correction(database_url: str, video_id: int) -> None:
    """Called after every stored correction: learn again when the auto switch is on."""
    if st.session_state.get("auto_learn"):
        jobs.start_adaptation(database_url, video_id)


@st.fragment(run_every=0.5)
def learning_progress_ui(database_url: str, video_id: int) -> None:
    running = jobs.adaptation_state(database_url, video_id)
    if running is None or not running.running:
        st.rerun()  # the whole page: the timelines show what was learnt
    st.caption("Learning from the reviewed frames… (keep coding)")


def learnt_ui(database_url: str, state: actions.ReviewState) -> None:
    reports = actions.learnt_reports(database_url, state.run_id) if state.prior_run_id else []
    if not reports:
        return
    adapted = [r["au"] for r in reports if r["adapted"]]
    with st.expander(f"Pre-fill learnt from your corrections: {', '.join(adapted) or 'none'}"):
        st.dataframe(learnt_table(reports), hide_index=True)
        st.caption("Estimated by fitting on some reviewed stretches and checking the others: "
                   "the share of those frames the learnt pre-fill and its prior get right.")


def learnt_table(reports: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "AU": r["au"],
                "reviewed frames": r["reviewed_frames"],
                "from other videos": r["support_frames"],
                "learnt": r["adapted"],
                "estimate, learnt": r["cv_agreement"],
                "estimate, prior": r["cv_agreement_prior"],
                "frames changed": r["changed_frames"],
                "why": r["reason"],
            }
            for r in reports
        ]
    )


def review_key() -> None:
    """Key R presses "Review next" (see _REVIEW_KEY_SCRIPT)."""
    st.html(_REVIEW_KEY_SCRIPT, unsafe_allow_javascript=True)


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


def expression_ui(database_url: str, video_id: int, subject: int, frame: int,
                  aus: tuple[str, ...]) -> None:
    """One caption: what the expression network sees in the current frame, and the AUs that
    evidence pushes the pre-fill towards (the fusion table, docs/first_guess.md)."""
    seen = actions.expression_at(database_url, video_id, subject, frame, aus)
    if seen is None:
        return
    named = " · ".join(f"{name} {value:.2f}" for name, value in seen.strongest)
    towards = f" → evidence for {', '.join(seen.implies)}" if seen.implies else ""
    st.caption(f"Expression at frame {frame}: {named}{towards}")
