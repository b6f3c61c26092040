"""The period picker shared by the pages: presets up to now, all time, or explicit UTC days."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard import queries
from dashboard.period import (
    ALL_TIME,
    CUSTOM,
    PRESETS,
    Period,
    all_time_period,
    anchor_end,
    day_period,
    preset_period,
)
from sql.gateway import Database


def choose_period(db: Database, org: str, key: str, default: str = "Last 7 days") -> Period:
    """Render the period controls (widgets keyed `<key>_preset`, `<key>_days`) and return it."""
    end = anchor_end(datetime.now(UTC))
    options = [*PRESETS, ALL_TIME, CUSTOM]
    preset = st.selectbox("Period", options, index=options.index(default), key=f"{key}_preset")
    if preset == ALL_TIME:
        period = all_time_period(queries.first_event_time(db, org), end)
    elif preset != CUSTOM:
        period = preset_period(preset, end)
    else:
        default_days = preset_period(default, end)
        picked = st.date_input(
            "Days (UTC)",
            value=(default_days.first_day, default_days.last_day),
            key=f"{key}_days",
        )
        if not isinstance(picked, tuple) or len(picked) != 2:
            st.info("Pick the first and the last day.")
            st.stop()
        period = day_period(picked[0], picked[1])
    st.caption(f"{period.label()}")
    return period
