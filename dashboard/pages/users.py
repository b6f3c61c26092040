"""Users: when each user works (hour of day by weekday, in the viewer's time zone), who was
active on which day, and a user's baseline against the last day of the period."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import available_timezones

import streamlit as st

from dashboard import (
    charts,
    drilldown,
    overview_queries,
    tables,
    user_events,
    user_patterns,
    user_queries,
)
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.markdown_text import md
from dashboard.period_widget import choose_period
from sql.vocabulary import DRILL_DOWN

BASELINE_DAYS = 28
MATRIX_USERS = 30

ctx = page_context("Users")
controls = st.columns([2, 2, 3])
with controls[0]:
    period = choose_period(ctx.db, ctx.org, key="users_period", default="Last 30 days")
with st.spinner("Finding active users…"):
    active = overview_queries.top_users(ctx.db, ctx.org, period.start, period.end, n=200)
# Events without a user (system jobs) have no heatmap of their own.
active = active[active["user_id"].notna()]
if active.empty:
    st.info("Nobody did anything in this period. Pick a longer period.")
    st.stop()
labels = dict(zip(active["user_id"], active["user_email"].fillna(active["user_id"]), strict=True))
with controls[1]:
    zones = sorted(available_timezones())
    time_zone = st.selectbox("Time zone", zones, index=zones.index("UTC"), key="users_tz")
with controls[2]:
    user_id = st.selectbox(
        "User", list(labels), format_func=lambda u: f"{labels[u]} ({u})", key="users_user"
    )

st.subheader(f"When {md(labels[user_id])} works ({md(time_zone)})")
with st.spinner("Loading the heatmap…"):
    cells = overview_queries.user_heatmap(
        ctx.db, ctx.org, period.start, period.end, user_id, time_zone
    )
grid = user_patterns.weekday_hour_matrix(cells)
picked_cells = st.plotly_chart(
    charts.matrix_figure(grid, "Events by weekday and hour", "hour", "weekday"),
    key="users_heatmap",
    on_select="rerun",
    selection_mode=("points", "box"),
    width="stretch",
)
picked = [
    (weekday, int(hour))
    for weekday, hour in drilldown.matrix_selection_cells(drilldown.selected_points(picked_cells))
]
if picked:
    page = st.number_input("Page", min_value=1, value=1, step=1, key="users_heatmap_page")
    events = user_events.events_in_cells(
        ctx.db, ctx.org, user_id, period.start, period.end, time_zone, picked, page=page - 1
    )
    ctx.record(
        DRILL_DOWN,
        {"source": "users_heatmap", "user_id": user_id, "time_zone": time_zone, "cells": picked},
    )
    st.caption(f"{md(labels[user_id])}'s events in the selected cells, newest first")
    st.dataframe(
        events,
        key="users_heatmap_events",
        hide_index=True,
        width="stretch",
        column_config=tables.column_config(events),
    )
    offer_drilldown(
        ctx, drilldown.user_query(user_id, period.start, period.end), source="users_heatmap"
    )

day = period.last_day
st.subheader("Users by day")
# Only the rows the page shows: the busiest users' days, and one user's baseline days.
shown_users = [str(u) for u in active["user_id"].head(MATRIX_USERS)]
matrix_first = max(period.first_day, day - timedelta(days=user_queries.MAX_DAYS - 1))
if matrix_first > period.first_day:
    st.caption(f"The last {user_queries.MAX_DAYS:,} days of the period.")
with st.spinner("Loading users by day…"):
    daily = user_queries.daily_events(ctx.db, ctx.org, matrix_first, day, shown_users)
matrix = user_patterns.users_by_day(daily, top=MATRIX_USERS)
matrix.index = [str(u) for u in matrix.index]
matrix.columns = [str(d) for d in matrix.columns]
picked_days = st.plotly_chart(
    charts.matrix_figure(matrix, "Events per user and day (UTC)", "day", "user"),
    key="users_by_day",
    on_select="rerun",
    selection_mode=("points", "box"),
    width="stretch",
)
offer_drilldown(
    ctx,
    drilldown.users_days_query(
        drilldown.matrix_selection_cells(drilldown.selected_points(picked_days))
    ),
    source="users_by_day",
)

st.subheader(f"{md(labels[user_id])} on {day} against the {BASELINE_DAYS} days before")
with st.spinner("Loading the baseline…"):
    features = user_queries.user_days(
        ctx.db, ctx.org, user_id, day - timedelta(days=BASELINE_DAYS), day
    )
comparison = user_patterns.baseline_vs_day(features, user_id, day, BASELINE_DAYS)
st.plotly_chart(charts.baseline_figure(comparison, str(day)), key="users_baseline", width="stretch")
st.dataframe(
    comparison,
    key="users_baseline_table",
    hide_index=True,
    width="stretch",
    column_config=tables.column_config(comparison),
)
