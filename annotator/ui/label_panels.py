"""The app's "Export" and "Agreement" panels: widgets and layout only (the work:
annotator.ui.review)."""

from __future__ import annotations

import streamlit as st

from annotator.ui import review


def export_ui(database_url: str, coder: str, summary: review.VideoSummary) -> None:
    file_format = st.radio("Format", ("affwild2", "openface-csv"), horizontal=True,
                           format_func={"affwild2": "Aff-Wild2 txt",
                                        "openface-csv": "OpenFace-style CSV"}.get)
    unreviewed = st.radio("Frames you have not reviewed", ("prefill", "not-coded"),
                          horizontal=True, format_func={"prefill": "model's pre-fill",
                                                        "not-coded": "-1 (not coded)"}.get)
    for name, content in review.export_files(database_url, summary.id, coder,
                                             file_format, unreviewed):
        st.download_button(f"Download {name}", content, file_name=name, type="primary")
        lines = content.decode().splitlines()
        st.code("\n".join(lines[:12]) + ("\n…" if len(lines) > 12 else ""), language=None)


def agreement_ui(database_url: str, coder: str, summary: review.VideoSummary) -> None:
    coders = sorted({coder, *review.video_coders(database_url, summary.id)})
    first, second = st.columns(2)
    one = first.selectbox("Coder", coders, index=coders.index(coder))
    other = second.selectbox("Compared with", [review.MODEL, *(c for c in coders if c != one)])
    table = review.agreement_table(database_url, summary.id, one, other)
    st.dataframe(table.style.format({"kappa": "{:.2f}", "f1": "{:.2f}"}))
    st.caption("Cohen's kappa and F1 of 'present' per AU, over frames both sides labelled "
               "(a coder's unreviewed frames are left out).")
