"""Compliance: "who accessed RESOURCE between FROM and TO" -- summary, per-user table, the
events, a CSV and a printable HTML report that state the exact filter, when and by whom."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import streamlit as st

from dashboard import drilldown, tables
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.markdown_text import md
from dashboard.report_downloads import offer_report_downloads
from dashboard.resource_labels import known_for_days, resource_label
from sql.event_filter import QuerySyntaxError
from sql.user_identity import identity_term
from sql.vocabulary import GENERATE_REPORT
from usecases import access_report
from usecases.resource_catalogue import LOOKBACK_DAYS, find_resource

ctx = page_context("Compliance")
st.caption("Who accessed a resource between two days (UTC, both inclusive)?")
today = datetime.now(UTC).date()
# The picker lists what exists: the catalogue and the resources with events lately.
recent = known_for_days(ctx.db, ctx.org, today - timedelta(days=LOOKBACK_DAYS), today)
labels = {k.resource_id: k.label for k in recent}
with st.form("compliance_form"):
    top = st.columns([3, 3, 2])
    chosen = top[0].selectbox(
        "Resource",
        list(labels),
        index=None,
        format_func=lambda rid: labels.get(rid, rid),
        key="compliance_pick",
        placeholder="Pick by name or id" if labels else "No resources yet",
    )
    typed = top[1].text_input(
        "…or type a name or id",
        key="compliance_resource",
        placeholder="Name or id, as it appears in the list",
    )
    resource_type = top[2].text_input("Resource type (optional)", key="compliance_resource_type")
    days = st.columns(2)
    first = days[0].date_input("From", value=today - timedelta(days=90), key="compliance_from")
    last = days[1].date_input("To", value=today, key="compliance_to")
    submitted = st.form_submit_button("Run report", type="primary")


def _ask(resource_id: str, rtype: str | None, first_day: date, last_day: date) -> None:
    """Make the report's query the page shows (also a "did you mean" button's callback)."""
    st.session_state["compliance_query"] = access_report.access_query(
        resource_id, rtype, first_day, last_day
    )
    st.session_state["compliance_resource_id"] = resource_id.strip()
    st.session_state.pop("compliance_near", None)


if submitted:
    st.session_state.pop("compliance_query", None)
    st.session_state.pop("compliance_near", None)
    text = typed.strip() or (chosen or "")
    rtype = resource_type.strip() or None
    try:
        if not text:
            raise ValueError("resource: pick a resource, or type its name or id")
        # Resolved against what exists in the chosen days (and the catalogue), so a
        # resource with accesses long ago is found too.
        match = find_resource(text, known_for_days(ctx.db, ctx.org, first, last))
        if match.exact is not None:
            _ask(match.exact.resource_id, rtype, first, last)
        else:
            access_report.access_query(text, rtype, first, last)  # the other fields' errors
            st.session_state["compliance_near"] = (ctx.org, text, rtype, first, last, match.near)
    except (ValueError, QuerySyntaxError) as exc:
        st.error(md(exc))
        st.stop()

near = st.session_state.get("compliance_near")
# Kept per browser session: another organisation's candidates are never offered here.
if near and near[0] == ctx.org:
    _org, text, rtype, first_day, last_day, candidates = near
    if candidates:
        st.warning(f"No resource has the id or name “{md(text)}”. Did you mean:")
        for i, candidate in enumerate(candidates):
            st.button(
                md(candidate.label),
                key=f"compliance_near_{i}",
                on_click=_ask,
                args=(candidate.resource_id, rtype, first_day, last_day),
            )
    else:
        st.warning(
            f"No resource has the id or name “{md(text)}” in the catalogue or in the events"
            " of these days. Pick one from the list, or run the report for this id anyway."
        )
    st.button(
        "Run the report for this id anyway",
        key="compliance_near_anyway",
        on_click=_ask,
        args=(text, rtype, first_day, last_day),
    )
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
resource_id = st.session_state.get("compliance_resource_id")
if resource_id:
    st.caption(f"Resource: {md(resource_label(ctx.db, ctx.org)(resource_id))}")
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
st.caption(
    "Days are UTC. A person is their user id, else (events without one) their email; the email"
    " beside an id is the one the user had on their last day of access."
)
picked = st.dataframe(
    report.by_user,
    key="compliance_by_user",
    column_config=tables.column_config(report.by_user, user_email=st.column_config.Column("Email")),
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    width="stretch",
)
rows = drilldown.selected_rows(picked)
if rows:
    chosen_rows = report.by_user.iloc[list(rows)]
    pairs = zip(chosen_rows["user_id"], chosen_rows["user_email"], strict=True)
    users = [t for t in (identity_term(u, e) for u, e in pairs) if t is not None]
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
