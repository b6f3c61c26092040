"""Users: when each user works (hour of day by weekday, in the viewer's time zone), who was
active on which day, and a user's baseline against the last day of the period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial

import pandas as pd
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
USER_PARAM = "user"
_PENDING_USER_KEY = "users_clicked_user"

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
    zones = user_patterns.time_zones()
    time_zone = st.selectbox("Time zone", zones, index=zones.index("UTC"), key="users_tz")
# The user in the URL (?user=), when they were active in the period; a click on the matrix sets it.
wanted = st.query_params.get(USER_PARAM)
if wanted in labels and st.session_state.get("users_user") not in labels:
    st.session_state["users_user"] = wanted
pending = st.session_state.pop(_PENDING_USER_KEY, None)
if pending in labels:
    st.session_state["users_user"] = pending
with controls[2]:
    user_id = st.selectbox(
        "User", list(labels), format_func=lambda u: f"{labels[u]} ({u})", key="users_user"
    )

if st.query_params.get(USER_PARAM) != user_id:
    st.query_params[USER_PARAM] = user_id

# The last complete UTC day of the period: today's figures are still growing.
today = datetime.now(UTC).date()
day = min(period.last_day, today - timedelta(days=1))
day = max(day, period.first_day)
# Only the rows the page shows: the busiest users' days, and one user's baseline days.
shown_users = [str(u) for u in active["user_id"].head(MATRIX_USERS)]
matrix_first = max(period.first_day, period.last_day - timedelta(days=user_queries.MAX_DAYS - 1))
# The page's three reads at once, into their caches: it then waits for the slowest, not the sum.
# A day clicked in the matrix is read when clicked.
# Each read is written once, so the prefetch and the page's own call cannot drift apart (a
# difference in one argument would miss the cache and read twice).
read_cells = partial(
    overview_queries.user_heatmap, ctx.db, ctx.org, period.start, period.end, user_id, time_zone
)
read_daily = partial(
    user_queries.daily_events, ctx.db, ctx.org, matrix_first, period.last_day, shown_users
)


def read_baseline(on: date) -> pd.DataFrame:
    return user_queries.user_days(ctx.db, ctx.org, user_id, on - timedelta(days=BASELINE_DAYS), on)


overview_queries.run_concurrently([read_cells, read_daily, lambda: read_baseline(day)])
st.subheader(f"When {md(labels[user_id])} works ({md(time_zone)})")
with st.spinner("Loading the heatmap…"):
    cells = read_cells()
grid = user_patterns.weekday_hour_matrix(cells)
picked_cells = st.plotly_chart(
    charts.matrix_figure(
        grid, "Events by weekday and hour", f"hour of day ({time_zone})", "weekday"
    ),
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
    events = tables.prepare(events)
    st.dataframe(
        events,
        key="users_heatmap_events",
        hide_index=True,
        width="stretch",
        column_config=tables.column_config(events),
    )
    cell_counts = {
        (str(weekday), int(hour)): int(grid.loc[weekday, hour])
        for weekday in grid.index
        for hour in grid.columns
    }
    cells_query = drilldown.heatmap_cells_query(
        user_id, period.start, period.end, time_zone, picked, cell_counts
    )
    if cells_query is None:
        st.caption(
            "These cells are not one block of weekdays and hours: the table above lists their "
            "events; pick a block to open them in Explore."
        )
    offer_drilldown(ctx, cells_query, source="users_heatmap")

st.subheader("Users by day")
if matrix_first > period.first_day:
    st.caption(f"The last {user_queries.MAX_DAYS:,} days of the period.")
with st.spinner("Loading users by day…"):
    daily = read_daily()
matrix = user_patterns.users_by_day(daily, top=MATRIX_USERS)
matrix.index = [str(u) for u in matrix.index]
matrix.columns = [str(d) for d in matrix.columns]
if len(active) > len(matrix):
    st.caption(
        f"The {len(matrix):,} busiest of {tables.plural(len(active), 'active user')} "
        "in this period; pick anyone in User above."
    )
else:
    st.caption(f"All {tables.plural(len(active), 'active user')} in this period.")
st.caption("Click a cell to compare that user's day with their baseline below.")
picked_days = st.plotly_chart(
    charts.matrix_figure(
        matrix,
        "Events per user and day (UTC)",
        "day (UTC)",
        "user",
        row_labels={u: labels.get(u, u) for u in matrix.index},
    ),
    key="users_by_day",
    on_select="rerun",
    selection_mode=("points", "box"),
    width="stretch",
)
clicked = drilldown.matrix_selection_cells(drilldown.selected_points(picked_days))
offer_drilldown(ctx, drilldown.users_days_query(clicked), source="users_by_day")
if len(clicked) == 1:
    # One cell: that user and day are the ones the baseline compares.
    clicked_user, clicked_day = clicked[0]
    if clicked_user in labels and clicked_user != user_id:
        st.session_state[_PENDING_USER_KEY] = clicked_user
        st.rerun()
    day = date.fromisoformat(clicked_day)

st.subheader(f"{md(labels[user_id])} on {day} against the {BASELINE_DAYS} days before")
with st.spinner("Loading the baseline…"):
    features = read_baseline(day)
comparison = user_patterns.baseline_vs_day(features, user_id, day, BASELINE_DAYS)
st.plotly_chart(charts.baseline_figure(comparison, str(day)), key="users_baseline", width="stretch")
# "—" where the baseline is zero: no ratio exists, rather than a literal None.
comparison["ratio"] = ["—" if pd.isna(r) else f"{r:,.2f}×" for r in comparison["ratio"]]
comparison = tables.prepare(comparison)
st.dataframe(
    comparison,
    key="users_baseline_table",
    hide_index=True,
    width="stretch",
    column_config=tables.column_config(comparison),
)
