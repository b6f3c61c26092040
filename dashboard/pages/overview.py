"""Overview: totals, the timeline by family, top users and sources, the latest findings.
Selecting bars drills down to those events in Explore."""

from __future__ import annotations

import streamlit as st

from dashboard import (
    charts,
    drilldown,
    finding_queries,
    overview_queries,
    resource_queries,
    tables,
)
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.markdown_text import md
from dashboard.period_widget import choose_period

ANOMALIES_PAGE = "pages/anomalies.py"

ctx = page_context("Overview")
period = choose_period(ctx.db, ctx.org, key="overview_period")
with st.spinner("Counting events…"):
    overview_queries.prefetch_overview(ctx.db, ctx.org, period.start, period.end, period.bucket)
    totals = overview_queries.totals(ctx.db, ctx.org, period.start, period.end)
if not totals["events"]:
    st.info(
        "No audit events in this period. Pick a longer period, or send events with the SDK, "
        "`POST /v1/events` or `auditlens import`."
    )
    st.stop()

head = st.columns(3)
head[0].metric("Events", f"{totals['events']:,}")
head[1].metric("Users", f"{totals['users']:,}")
head[2].metric("Resources", f"{totals['resources']:,}")
families = sorted(totals["by_family"].items(), key=lambda item: (-item[1], item[0]))
for column, (family, count) in zip(st.columns(max(len(families), 1)), families, strict=False):
    column.metric(md(family.replace("_", " ")), f"{count:,}")

with st.spinner("Loading the timeline…"):
    timeline = overview_queries.timeline(ctx.db, ctx.org, period.start, period.end, period.bucket)
picked = st.plotly_chart(
    charts.timeline_figure(timeline, period.bucket),
    key="overview_timeline",
    on_select="rerun",
    selection_mode=("points", "box"),
    width="stretch",
)
offer_drilldown(
    ctx,
    drilldown.timeline_selection_query(drilldown.selected_points(picked), period.bucket_width),
    source="overview_timeline",
)

left, right = st.columns(2)
users = overview_queries.top_users(ctx.db, ctx.org, period.start, period.end)
users["label"] = users["user_email"].fillna(users["user_id"])
with left:
    picked_users = st.plotly_chart(
        charts.ranking_figure(users, "label", "events", ["user_id"], "Top users"),
        key="overview_top_users",
        on_select="rerun",
        selection_mode="points",
        width="stretch",
    )
    offer_drilldown(
        ctx,
        drilldown.users_query(
            drilldown.ranking_selection_values(drilldown.selected_points(picked_users)),
            period.start,
            period.end,
        ),
        source="overview_top_users",
    )
resources = resource_queries.busiest_resources(ctx.db, ctx.org, period.start, period.end)
resources["label"] = resources["resource_type"].fillna("") + ":" + resources["resource_id"]
with right:
    picked_resources = st.plotly_chart(
        charts.ranking_figure(
            resources, "label", "events", ["resource_type", "resource_id"], "Top sources"
        ),
        key="overview_top_resources",
        on_select="rerun",
        selection_mode="points",
        width="stretch",
    )
    offer_drilldown(
        ctx,
        drilldown.resources_query(
            drilldown.ranking_selection_values(drilldown.selected_points(picked_resources)),
            period.start,
            period.end,
        ),
        source="overview_top_resources",
    )

st.subheader("Latest findings")
# Findings whose activity falls in the period, newest activity first; a row opens it.
latest = finding_queries.list_findings(
    ctx.db, ctx.org, limit=500, since=period.start, until=period.end
)
if latest.empty:
    st.caption("No findings in this period. `auditlens detect` scores the latest days.")
else:
    latest = (
        latest.sort_values(["window_start", "score"], ascending=False, kind="stable")
        .head(10)
        .reset_index(drop=True)
    )
    shown = tables.prepare(
        latest[["window_start", "severity", "score", "title", "user_email", "status"]]
    )
    picked_finding = st.dataframe(
        shown,
        key="overview_findings",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=tables.height_for(len(shown), at_most=10),
        column_config=tables.column_config(
            shown, score=st.column_config.NumberColumn("Score", format="%.2f")
        ),
    )
    rows = drilldown.selected_rows(picked_finding)
    if rows:
        st.switch_page(
            ANOMALIES_PAGE,
            query_params={"finding": str(latest.iloc[rows[0]]["finding_id"]), "org": ctx.org},
        )
