"""Compliance: "who accessed RESOURCE between FROM and TO" -- summary, per-user table, the
events, a CSV and a printable HTML report that state the exact filter, when and by whom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import drilldown, tables
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.markdown_text import md
from dashboard.report_downloads import offer_report_downloads
from sql.event_filter import QuerySyntaxError
from sql.vocabulary import GENERATE_REPORT
from usecases import access_report

ctx = page_context("Compliance")
st.caption("Who accessed a resource between two days (UTC, both inclusive)?")
today = datetime.now(UTC).date()
with st.form("compliance_form"):
    top = st.columns([3, 2])
    resource = top[0].text_input(
        "Resource id", key="compliance_resource", placeholder="payment-logs"
    )
    resource_type = top[1].text_input(
        "Resource type (optional)", key="compliance_resource_type", placeholder="source"
    )
    days = st.columns(2)
    first = days[0].date_input("From", value=today - timedelta(days=90), key="compliance_from")
    last = days[1].date_input("To", value=today, key="compliance_to")
    submitted = st.form_submit_button("Run report", type="primary")

if submitted:
    try:
        st.session_state["compliance_query"] = access_report.access_query(
            resource, resource_type.strip() or None, first, last
        )
    except (ValueError, QuerySyntaxError) as exc:
        st.error(md(exc))
        st.stop()
query = st.session_state.get("compliance_query")
if not query:
    st.stop()

with st.spinner("Building the report…"):
    report = access_report.build_access_report(
        ctx.db, ctx.org, query, generated_by=ctx.viewer.email
    )
ctx.record(GENERATE_REPORT, {"report": "access", "query": report.query})
st.markdown(f"**Filter:** {md(report.description)}")
st.code(report.query, language=None)
summary = report.summary
numbers = st.columns(4)
numbers[0].metric("Accesses", f"{summary['accesses']:,}")
numbers[1].metric("Users", f"{summary['users']:,}")
for column, label, moment in (
    (numbers[2], "First access", summary["first_access"]),
    (numbers[3], "Last access", summary["last_access"]),
):
    column.metric(label, f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "—")
if not summary["accesses"]:
    st.info("Nobody accessed this resource in this period.")
    st.stop()

st.subheader("Who accessed it")
st.caption("Days are UTC; the email is the one the user had on their last day of access.")
picked = st.dataframe(
    report.by_user,
    key="compliance_by_user",
    column_config=tables.column_config(report.by_user),
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    width="stretch",
)
rows = drilldown.selected_rows(picked)
if rows:
    users = [str(u) for u in report.by_user.iloc[list(rows)]["user_id"] if u]
    offer_drilldown(
        ctx,
        drilldown.join(*(f"user:{drilldown.quote(u)}" for u in users), report.query),
        source="compliance_by_user",
    )
st.subheader("Events")
if report.events_truncated:
    st.caption(
        f"The first {len(report.events):,} of {summary['accesses']:,} events; Explore pages"
        " through all of them, the CSV holds all of them."
    )
st.dataframe(
    report.events,
    key="compliance_events",
    hide_index=True,
    width="stretch",
    column_config=tables.column_config(report.events),
)
# The report's query is shown at the top already: the button alone here.
offer_drilldown(ctx, report.query, source="compliance_events", show_query=False)
st.caption(
    "Accesses by action, log records touched and IP addresses are in the printable report,"
    " counted from every event when it is made."
)

if ctx.can_export:
    offer_report_downloads(ctx, report)
else:
    st.caption(f"Your role ({md(ctx.role)}) may read this report but not download it.")
