"""Config changes: who changed what, before -> after, and what was switched off and never
switched back on."""

from __future__ import annotations

import streamlit as st

from dashboard import config_changes, drilldown, tables
from dashboard.context import page_context
from dashboard.drill_widget import offer_drilldown
from dashboard.markdown_text import md
from dashboard.period_widget import choose_period
from dashboard.still_off import still_off_now

ctx = page_context("Config changes")
period = choose_period(ctx.db, ctx.org, key="config_period", default="Last 30 days")

st.subheader("Disabled and never re-enabled")
# The state as of now, whenever the switch went off: an alert disabled before the period and
# still off is exactly what this list is for.
with st.spinner("Looking for changes that were never undone…"):
    still_off = still_off_now(ctx.db, ctx.org)
open_disables, cut = still_off.changes, still_off.cut
if open_disables.empty:
    st.success("Nothing that was switched off is still off now.")
else:
    in_period = int((open_disables["event_time"] >= period.start).sum())
    st.warning(
        f"{len(open_disables):,} {'change' if len(open_disables) == 1 else 'changes'} switched"
        f" something off that is still off now ({in_period:,} of them in this period)."
    )
    st.dataframe(
        open_disables,
        key="config_never_reverted",
        hide_index=True,
        width="stretch",
        column_config=tables.column_config(open_disables),
    )
st.caption(
    f"State as of {still_off.judged_at:%Y-%m-%d %H:%M:%S} UTC, whatever the period: every"
    " change before then was considered."
)
if cut:
    st.caption("Only the newest 50,000 changes that could switch something were considered.")

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
    for position, change in enumerate(chosen.to_dict("records")):
        st.markdown(
            f"**{md(change['event_action'])}** on {md(change['resource_type'] or '')}:"
            f"{md(change['resource_id'] or '')} by"
            f" {md(change['user_email'] or change['user_id'] or 'unknown')}"
        )
        diff = config_changes.change_diff(change["details"])
        if diff.empty:
            st.caption("This change names no fields; its details are below.")
        else:
            st.dataframe(diff, key=f"config_diff_{position}", hide_index=True, width="stretch")
        st.json(config_changes.as_details(change["details"]), expanded=True)
    targets = chosen[["resource_type", "resource_id"]].fillna("").astype(str).to_numpy().tolist()
    offer_drilldown(
        ctx,
        drilldown.join(
            "family:config_change",
            drilldown.resources_query(targets, period.start, period.end),
        ),
        source="config_history",
    )
