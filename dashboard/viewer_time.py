"""Times as the viewer reads them: in the browser's time zone (`st.context.timezone`), the zone
always stated, or in UTC when the viewer switches to it (the sidebar's "Times in UTC").

Stored times are UTC; only what is shown is converted. A zone the browser reports that this
machine does not know is treated as UTC, and said so by its name.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

UTC_SWITCH_KEY = "auditlens_times_in_utc"
TIME_FORMAT = "%Y-%m-%d %H:%M"


def browser_zone_name() -> str | None:
    """The IANA zone the browser reports, when it reports a known one."""
    try:
        name = st.context.timezone
    except Exception:  # no request context (scripts, AppTest)
        return None
    if not name or not isinstance(name, str) or len(name) > 64:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def zone_name() -> str:
    """The zone times are shown in: the browser's, or UTC when switched or unknown."""
    if st.session_state.get(UTC_SWITCH_KEY):
        return "UTC"
    return browser_zone_name() or "UTC"


def zone() -> tzinfo:
    name = zone_name()
    return UTC if name == "UTC" else ZoneInfo(name)


def render_switch() -> None:
    """The sidebar toggle between the browser's zone and UTC (shown when they differ)."""
    browser = browser_zone_name()
    if browser and browser != "UTC":
        st.sidebar.toggle(f"Times in UTC (not {browser})", key=UTC_SWITCH_KEY)


def moment_text(moment: datetime | pd.Timestamp | None) -> str:
    """`2025-01-15 03:13 Europe/Paris`: one line, the zone stated; an em dash for no time."""
    if moment is None or pd.isna(moment):
        return "—"
    value = pd.Timestamp(moment)
    if value.tzinfo is None:
        value = value.tz_localize(UTC)
    return f"{value.tz_convert(zone()).strftime(TIME_FORMAT)} {zone_name()}"


def heading(label: str) -> str:
    """A column heading for times: `When (Europe/Paris)`."""
    return f"{label} ({zone_name()})"


def localize(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy with the given UTC time columns in the viewer's zone (for `DatetimeColumn`)."""
    out = frame.copy()
    for column in columns:
        out[column] = pd.to_datetime(out[column], utc=True).dt.tz_convert(zone())
    return out
