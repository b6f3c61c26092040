"""Anomalies: findings ranked by score with their reasons; selecting one shows its status,
why, the drill-down to exactly its evidence in Explore, triage and the triage history. The
chosen finding is in the URL (`?finding=`), so Back from Explore comes back to it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import drilldown, finding_queries, tables, viewer_time
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.findings_view import SEVERITIES, STATUSES, TRIAGE_ROLES, ranked
from dashboard.markdown_text import md
from detection import findings
from detection.settings import load_calibration
from sql.vocabulary import VIEW_ENTRY

FINDING_PARAM = "finding"
_MAX_ID = 100
_SAVED_KEY = "anomalies_triage_saved"
_CHOSEN_KEY = "anomalies_finding"

ctx = page_context("Anomalies")
coverage = finding_queries.coverage(ctx.db, ctx.org)
if coverage is None:
    st.caption(findings.NOT_RUN_YET)
else:
    st.caption(coverage.sentence(viewer_time.moment_text(coverage.last_run_at)))
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

if not table.empty:
    st.caption(
        f"{tables.plural(len(table), 'finding')}, highest score first. Select one to see why."
    )
    shown = tables.prepare(
        table[["status", "score", "severity", "title", "user_email", "window_start", "reasons"]]
    )
    picked = st.dataframe(
        shown,
        key="anomalies_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=tables.height_for(len(shown), at_most=10),
        column_config=tables.column_config(
            shown, score=st.column_config.NumberColumn("Score", format="%.2f")
        ),
    )
    rows = drilldown.selected_rows(picked)
    if rows:
        chosen = str(table.iloc[rows[0]]["finding_id"])
        if st.query_params.get(FINDING_PARAM) != chosen:
            st.query_params[FINDING_PARAM] = chosen

# The URL's finding, else this session's last one: the browser's Back from Explore restores
# the page, not always its query string.
finding_id = str(st.query_params.get(FINDING_PARAM) or st.session_state.get(_CHOSEN_KEY) or "")
finding_id = finding_id[:_MAX_ID]
finding = finding_queries.finding(ctx.db, ctx.org, finding_id) if finding_id else None
if finding is None:
    st.stop()
st.session_state[_CHOSEN_KEY] = finding_id
if st.query_params.get(FINDING_PARAM) != finding_id:
    st.query_params[FINDING_PARAM] = finding_id

ctx.record(VIEW_ENTRY, {"finding_id": finding_id}, resource_id=f"finding/{finding_id}")
st.subheader(md(finding["title"]))
head = st.columns(3)
head[0].metric("Status", finding["status"])
head[1].metric("Severity", finding["severity"])
head[2].metric("Score", f"{float(finding['score']):.2f}")
st.markdown(
    f"{md(finding['user_email'] or finding['user_id'])} · activity from "
    f"{viewer_time.moment_text(finding['window_start'])} "
    f"to {viewer_time.moment_text(finding['window_end'])}"
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
history = pd.DataFrame(finding["triage"], columns=["created_at", "actor", "status", "comment"])
if history.empty:
    st.caption("Not triaged yet.")
else:
    shown_history = tables.prepare(history.iloc[::-1].reset_index(drop=True))
    st.dataframe(
        shown_history,
        key="anomalies_triage_history",
        hide_index=True,
        width="stretch",
        height=tables.height_for(len(shown_history), at_most=8),
        column_config=tables.column_config(
            shown_history, created_at=st.column_config.DatetimeColumn(viewer_time.heading("When"))
        ),
    )
if ctx.role not in TRIAGE_ROLES:
    st.caption(f"Your role ({md(ctx.role)}) reads findings; analysts and admins triage them.")
    st.stop()
silenced = [str(d) for d in finding["detectors"] if d != "model"]
if silenced:
    days = load_calibration(ctx.db, ctx.org).benign_suppression_days
    st.caption(
        f"Benign silences {md(', '.join(silenced))} for this user for {days} days"
        " (an organisation setting: auditlens detection-settings); any later status lifts it."
    )
if st.session_state.pop(_SAVED_KEY, False):
    # The saved comment is in the history above, not left in the box (set before the widget
    # exists, so the server's value is the empty one, whatever the browser held).
    st.session_state["anomalies_triage_comment"] = ""
with st.form("anomalies_triage", clear_on_submit=True):
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
    st.session_state[_SAVED_KEY] = True
    st.toast(f"Finding marked {md(new_status)}.")
    st.rerun()
