"""Config changes: who changed what, before -> after, and what was switched off and never
switched back on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import config_changes, drilldown, tables
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.period_widget import choose_period

ctx = page_context("Config changes")
period = choose_period(ctx.db, ctx.org, key="config_period", default="Last 30 days")

st.subheader("Disabled and never re-enabled")
# Reverts may come after the period: read from its start up to now.
until_now = max(period.end, datetime.now(UTC) + timedelta(minutes=1))
with st.spinner("Looking for changes that were never undone…"):
    since_start, cut = config_changes.config_change_events(
        ctx.db, ctx.org, period.start, until_now, limit=20_000
    )
open_disables = config_changes.never_reverted(since_start)
open_disables = open_disables[open_disables["event_time"] < period.end]
if open_disables.empty:
    st.success("Everything disabled in this period was switched back on.")
else:
    st.warning(f"{len(open_disables):,} changes switched something off and nothing undid them.")
    st.dataframe(
        open_disables,
        key="config_never_reverted",
        hide_index=True,
        width="stretch",
        column_config=tables.column_config(open_disables),
    )
if cut:
    st.caption("Only the newest 20,000 changes since the period start were considered.")

st.subheader("Who changed what")
with st.spinner("Loading changes…"):
    events, truncated = config_changes.config_change_events(
        ctx.db, ctx.org, period.start, period.end
    )
history = config_changes.change_history(events)
if history.empty:
    st.info("No configuration changes in this period.")
    st.stop()
if truncated:
    st.caption(f"The newest {len(history):,} changes; narrow the period to see older ones.")
picked = st.dataframe(
    history,
    key="config_history",
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    width="stretch",
    column_config=tables.column_config(
        history, event_time=st.column_config.DatetimeColumn("when (UTC)")
    ),
)
rows = drilldown.selected_rows(picked)
if rows:
    chosen = events.iloc[list(rows)]
    targets = chosen[["resource_type", "resource_id"]].fillna("").astype(str).to_numpy().tolist()
    offer_drilldown(
        ctx,
        drilldown.join(
            "family:config_change",
            drilldown.resources_query(targets, period.start, period.end),
        ),
        source="config_history",
    )
