"""Anomalies: findings ranked by score with their reasons; selecting one shows why, drills
down to its raw evidence in Explore (the evidence query pre-filled), and offers triage."""

from __future__ import annotations

import streamlit as st

from dashboard import drilldown, finding_queries, tables
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.findings_view import SEVERITIES, STATUSES, TRIAGE_ROLES, ranked
from dashboard.markdown_text import md
from detection import findings
from detection.settings import load_calibration
from sql.vocabulary import VIEW_ENTRY

ctx = page_context("Anomalies")
left, right = st.columns(2)
status = left.selectbox("Status", ["any", *STATUSES], key="anomalies_status")
severity = right.selectbox("At least", SEVERITIES, key="anomalies_min_severity")
with st.spinner("Loading findings…"):
    table = ranked(
        finding_queries.list_findings(
            ctx.db,
            ctx.org,
            status=None if status == "any" else status,
            min_severity=severity,
            limit=500,
        )
    )
if table.empty:
    st.info("No findings match. `auditlens detect` scores the latest days.")
    st.stop()

st.caption(f"{len(table):,} findings, highest score first. Select one to see why.")
shown = table[["score", "severity", "title", "user_email", "window_start", "reasons", "status"]]
picked = st.dataframe(
    shown,
    key="anomalies_table",
    on_select="rerun",
    selection_mode="single-row",
    hide_index=True,
    width="stretch",
    column_config=tables.column_config(
        shown,
        score=st.column_config.NumberColumn(format="%.2f"),
        window_start=st.column_config.DatetimeColumn("day", format="YYYY-MM-DD"),
    ),
)
rows = drilldown.selected_rows(picked)
if not rows:
    st.stop()

finding = table.iloc[rows[0]]
finding_id = str(finding["finding_id"])
ctx.record(VIEW_ENTRY, {"finding_id": finding_id}, resource_id=f"finding/{finding_id}")
st.subheader(md(finding["title"]))
st.markdown(
    f"**{md(finding['severity'])}** · score {finding['score']:.2f} · "
    f"{md(finding['user_email'] or finding['user_id'])} · "
    f"{finding['window_start']:%Y-%m-%d %H:%M} to {finding['window_end']:%Y-%m-%d %H:%M} UTC · "
    f"status **{md(finding['status'])}**"
)
st.markdown(md(finding["explanation"]))
st.caption("Detected by: " + md(", ".join(str(d) for d in finding["detectors"])))
offer_drilldown(
    ctx,
    str(finding["evidence_query"]),
    source="anomalies_evidence",
    details={"finding_id": finding_id},
)

st.subheader("Triage")
if ctx.role not in TRIAGE_ROLES:
    st.caption(f"Your role ({md(ctx.role)}) reads findings; analysts and admins triage them.")
    st.stop()
silenced = [str(d) for d in finding["detectors"] if d != "model"]
if silenced:
    days = load_calibration(ctx.db, ctx.org).benign_suppression_days
    st.caption(
        f"Benign silences {md(', '.join(silenced))} for this user for {days} days"
        " (an organisation setting: `auditlens detection-settings`); any later status lifts it."
    )
with st.form("anomalies_triage"):
    new_status = st.selectbox(
        "New status",
        STATUSES,
        index=STATUSES.index(finding["status"]) if finding["status"] in STATUSES else 0,
        key="anomalies_triage_status",
    )
    comment = st.text_area("Comment", key="anomalies_triage_comment", max_chars=2000)
    save = st.form_submit_button("Save triage", type="primary")
if save:
    findings.triage(ctx.db, ctx.org, finding_id, new_status, comment, actor=ctx.viewer.email)
    finding_queries.forget_findings()
    st.success(f"Finding marked {md(new_status)}.")
    st.rerun()
