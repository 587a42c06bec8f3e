"""The app's panels below the timelines: Export, Agreement and Model. Widgets and layout only;
the work is in annotator.services.actions, annotator.jobs and annotator.learning.

The fine-tune runs in its own process and the activation in a server thread; the Model panel
polls both with fragments, so coding goes on meanwhile, and a reload finds them again (the
latest fine-tune job in the database, the activation by database URL).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator import jobs
from annotator.jobs.finetune_launch import (
    cancel_finetune,
    finetune_status,
    start_finetune,
)
from annotator.learning.finetune_options import FinetuneError, FinetuneOptions
from annotator.learning.model_versions import VersionComparison, compare_versions, version_history
from annotator.services import actions
from annotator.services.actions import METRIC_NAMES
from annotator.services.context import Services
from model.errors import InputError
from model.predictors import BASELINE_LABEL, version_label


def models_panel_ui(services: Services, coder: str, admin: bool) -> None:
    versions = version_history(services)
    active = next((v for v in versions if v.active), None)
    activation = jobs.current_activation(services)
    activating = activation is not None and not activation.finished
    job = finetune_status(services)
    training = job is not None and not job.finished
    active_ui(active)
    finetune_ui(services, coder, active, disabled=training or activating)
    if training:
        finetune_progress_ui(services, job.job_id, admin or job.details.started_by == coder)
    elif job is not None:
        last_finetune_ui(job)
    if activating:
        activation_progress_ui(services)
    elif activation is not None:
        activation_result_ui(activation)
    if versions:
        comparison_ui(services, versions, active, disabled=training or activating,
                      admin=admin)
        st.markdown("##### Version history")
        st.dataframe(version_history_table(versions), hide_index=True,
                     column_config={"held-out score": st.column_config.NumberColumn(
                         format="%.3f"), "parent's score": st.column_config.NumberColumn(
                         format="%.3f")})


def active_ui(active: VersionComparison | None) -> None:
    if active is None:
        st.markdown(f"**Active predictor:** {BASELINE_LABEL} (no fine-tuned version is active)")
        return
    text = f"**Active predictor:** version {active.version_id}, fine-tuned from " \
           f"{active.parent_label}"
    if active.new and active.parent:
        metric = METRIC_NAMES.get(active.metric, active.metric)
        text += (f" · held-out {metric} {active.new['score']:.3f} "
                 f"({active.parent_label}: {active.parent['score']:.3f})")
    st.markdown(text)


def finetune_ui(services: Services, coder: str, active: VersionComparison | None,
                disabled: bool) -> None:
    st.markdown("##### Fine-tune on reviewed labels")
    start_from = "a new network" if active is None else version_label(active.version_id)
    st.caption(f"Trains {start_from} on reviewed frames, holding out whole reviewed videos to "
               "measure the new version and its parent on the same frames. It runs in the "
               "background: keep coding, or reload; nothing changes until you activate it.")
    epochs, mine, start = st.columns([1, 1, 1], vertical_alignment="bottom")
    epochs.number_input("Epochs", min_value=1, max_value=200, value=5, step=1,
                        key="finetune_epochs")
    mine.checkbox("Only my reviewed labels", key="finetune_mine")
    start.button("Fine-tune", type="primary", disabled=disabled, on_click=_start_finetune,
                 args=(services, coder))
    if "finetune_refused" in st.session_state:
        st.error(st.session_state.pop("finetune_refused"))


def _start_finetune(services: Services, coder: str) -> None:
    try:
        options = FinetuneOptions(coder=coder if st.session_state["finetune_mine"] else None,
                                  epochs=int(st.session_state["finetune_epochs"]))
        refused = actions.finetune_refusal(services, options)
        if refused is None:
            start_finetune(services, options, started_by=coder)
    except FinetuneError as error:  # busy, or could not start the process
        refused = str(error)
    if refused is not None:
        st.session_state["finetune_refused"] = f"Fine-tune not started: {refused}"


@st.fragment(run_every=1.0)
def finetune_progress_ui(services: Services, job_id: int, may_cancel: bool) -> None:
    """Polls the fine-tune job; the page reruns as a whole once it ends. Its starter or an
    administrator may cancel it."""
    job = finetune_status(services, job_id)
    if job.finished:
        st.session_state.pop("model_version", None)  # so the comparison shows the new version
        st.rerun()
    text = job.message or "waiting to start…"
    if job.details.parent_score is not None:
        text += f" · parent's held-out {job.details.parent_score:.3f}"
    st.progress(min(max(job.progress, 0.0), 1.0), text=text)
    if job.cancel_requested:
        st.caption("Cancelling… the active model and the labels stay as they are.")
    elif may_cancel:
        st.button("Cancel the fine-tune", on_click=cancel_finetune, args=(services, job_id))
    else:
        starter = job.details.started_by or "another coder"
        st.caption(f"Started by {starter}; they or an administrator may cancel it.")


def last_finetune_ui(job: jobs.JobStatus) -> None:
    if job.state == "done":
        made = version_label(job.details.version_id)
        st.caption(f"Last fine-tune (job {job.job_id}) made {made}.")
    elif job.state == "cancelled":
        st.info(f"Last fine-tune (job {job.job_id}): {job.message}")
    else:
        st.error(f"Last fine-tune (job {job.job_id}) failed: {job.message}")


@st.fragment(run_every=0.5)
def activation_progress_ui(services: Services) -> None:
    activation = jobs.current_activation(services)
    if activation.finished:
        st.rerun()
    st.progress(min(max(activation.progress, 0.0), 1.0), text=activation.message)


def activation_result_ui(activation: jobs.JobStatus) -> None:
    if activation.state != "done":
        st.error(activation.message)
        return
    result = activation.result
    text = (f"Now active: {version_label(result['version_id'])}. Pre-fill re-run on "
            f"{len(result['refreshed_videos'])} video(s) where frames were unreviewed; "
            f"{len(result['kept_videos'])} fully reviewed video(s) kept. Corrections are "
            "unchanged.")
    if result["missing_videos"]:
        text += f" Video files not found (pre-fill not re-run): {result['missing_videos']}."
    st.success(text)


def comparison_ui(services: Services, versions: list[VersionComparison],
                  active: VersionComparison | None, disabled: bool, admin: bool) -> None:
    st.markdown("##### New version against its parent (held-out videos)")
    chosen_id = st.selectbox("Version", [v.version_id for v in versions], key="model_version",
                             format_func=lambda i: version_label(i) + (
                                 " (active)" if active and active.version_id == i else ""))
    chosen = compare_versions(services, chosen_id)
    if chosen.new is None or chosen.parent is None:
        st.caption(f"{version_label(chosen_id)} was not made by fine-tuning: no held-out scores.")
    else:
        metric = METRIC_NAMES.get(chosen.metric, chosen.metric)
        verdict = "at least as high as" if chosen.at_least_parent else "lower than"
        (st.success if chosen.at_least_parent else st.warning)(
            f"{version_label(chosen_id).capitalize()} scores {verdict} "
            f"{chosen.parent_label} on {metric}: {chosen.new['score']:.3f} against "
            f"{chosen.parent['score']:.3f}.")
        table = comparison_table(chosen)
        st.dataframe(table.style.format("{:.3f}", na_rep="—"),
                     height=35 * (len(table) + 1) + 3)  # every AU's row without scrolling
        st.caption(f"Held out: {len(chosen.held_out_videos)} video(s) "
                   f"({', '.join(chosen.held_out_videos)}), {chosen.held_out_frames:,} frames "
                   f"with reviewed labels; trained on {len(chosen.training_videos)} video(s). "
                   "— : no reviewed held-out label of that AU.")
    refusal = chosen.refusal()
    force = False
    if not admin:
        st.caption("Activating and rolling back change every coder's pre-fill: administrators "
                   "only.")
        disabled = True
    if refusal and not chosen.active and admin:
        st.error(f"Not activated unless you insist: {refusal}. Its parent stays active.")
        force = st.checkbox("Activate it anyway", key=f"force_{chosen_id}")
    activate, back = st.columns(2)
    activate.button("Activate this version", type="primary",
                    disabled=disabled or chosen.active or (bool(refusal) and not force),
                    on_click=jobs.start_activation, args=(services, chosen_id, False, force),
                    help="re-runs the pre-fill where frames are unreviewed; corrections stay")
    back.button("Roll back", disabled=disabled or active is None,
                on_click=jobs.start_activation, args=(services, None, True),
                help=None if active is None else f"activate {active.parent_label} again")


def export_ui(services: Services, coder: str, summary: actions.VideoSummary) -> None:
    file_format = st.radio("Format", ("affwild2", "openface-csv", "elan", "boris"),
                           horizontal=True,
                           format_func={"affwild2": "Aff-Wild2 txt",
                                        "openface-csv": "OpenFace CSV",
                                        "elan": "ELAN (.eaf)",
                                        "boris": "BORIS project"}.get)
    unreviewed = st.radio("Frames you have not reviewed", ("prefill", "not-coded"),
                          horizontal=True, format_func={"prefill": "model's pre-fill",
                                                        "not-coded": "-1 (not coded)"}.get)
    try:
        files = actions.export_files(services, summary.id, coder, file_format, unreviewed)
    except InputError as error:  # the OpenFace CSV without the video file
        st.error(f"Cannot export: {error}")
        return
    for name, content in files:
        st.download_button(f"Download {name}", content, file_name=name, type="primary")
        lines = content.decode().splitlines()
        st.code("\n".join(lines[:12]) + ("\n…" if len(lines) > 12 else ""), language=None)


def agreement_ui(services: Services, coder: str, summary: actions.VideoSummary,
                 subject: int = 1) -> None:
    coders = sorted({coder, *actions.video_coders(services, summary.id)})
    first, second = st.columns(2)
    one = first.selectbox("Coder", coders, index=coders.index(coder))
    other = second.selectbox("Compared with", [actions.MODEL, *(c for c in coders if c != one)])
    table = actions.agreement_table(services, summary.id, one, other, subject)
    st.dataframe(table.style.format({"kappa": "{:.2f}", "f1": "{:.2f}"}))
    st.caption(f"Cohen's kappa and F1 of 'present' per AU of subject {subject}, over frames "
               "both sides labelled (a coder's unreviewed frames are left out).")


def comparison_table(comparison: VersionComparison) -> pd.DataFrame:
    """Rows: ABAW 2020, mean F1, accuracy, F1 per AU; columns: the new version and its parent.
    An AU without labelled held-out frames has no F1 (NaN)."""
    columns = {version_label(comparison.version_id): comparison.new or {},
               comparison.parent_label: comparison.parent or {}}
    rows = {"ABAW 2020": "abaw2020", "mean F1": "mean_f1", "accuracy": "accuracy"}
    aus = list((comparison.new or comparison.parent or {}).get("per_au_f1", {}))
    table = {}
    for name, scores in columns.items():
        values = [scores.get(key) for key in rows.values()]
        values += [scores.get("per_au_f1", {}).get(au) for au in aus]
        table[name] = [float("nan") if v is None else float(v) for v in values]
    return pd.DataFrame(table, index=[*rows, *(f"F1 {au}" for au in aus)])


def version_history_table(versions: list[VersionComparison]) -> pd.DataFrame:
    """One row per model version, newest first, with both held-out scores."""
    def score(scores: dict | None) -> float:
        return float("nan") if not scores else float(scores["score"])

    return pd.DataFrame(
        [
            {
                "version": v.version_id,
                "active": v.active,
                "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
                "from": v.parent_label,
                "metric": METRIC_NAMES.get(v.metric, v.metric),
                "held-out score": score(v.new),
                "parent's score": score(v.parent),
                "held-out videos": len(v.held_out_videos),
                "held-out frames": v.held_out_frames,
            }
            for v in versions
        ],
        columns=["version", "active", "created", "from", "metric", "held-out score",
                 "parent's score", "held-out videos", "held-out frames"],
    )
