"""Tables the same way on every page: humane headings, counts with thousands separators
(1,247), times in the viewer's zone with the zone in the heading, and no literal "None".

`st.dataframe` shows numbers as they come ("1247") and column names as they are
("user_email"); `column_config(frame, ...)` gives every column a heading (HEADINGS, else the
name in words), every numeric column a localized number format, every time column the
viewer's zone, and lets a page override single columns. `prepare(frame)` converts the time
columns into that zone and shows missing text as an em dash.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import viewer_time

COUNT_FORMAT = "localized"
TIME_FORMAT = "YYYY-MM-DD HH:mm:ss"
MISSING = "—"
# Row height of st.dataframe, for tables sized to their rows.
ROW_PX = 35

# Column name -> heading, where the name in words is not what a reader calls it.
HEADINGS: dict[str, str] = {
    "user_id": "User id",
    "user_email": "User",
    "event_time": "Time",
    "event_type": "Family",
    "event_action": "Action",
    "resource_type": "Resource type",
    "resource_id": "Resource",
    "ip_address": "IP address",
    "session_id": "Session",
    "id": "Event id",
    "finding_id": "Finding id",
    "created_at": "Detected",
    "window_start": "Activity from",
    "window_end": "Activity to",
    "baseline_mean": "Baseline (mean per day)",
    "baseline_max": "Baseline (highest day)",
    "ratio": "Day ÷ mean",
    "actor": "Who",
}


def heading(name: str) -> str:
    """The heading of a column: HEADINGS, else the name in words ("records_exported" ->
    "Records exported")."""
    return HEADINGS.get(name) or name.replace("_", " ").capitalize()


def _is_time(dtype: Any) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype)


def column_config(frame: pd.DataFrame, **overrides: Any) -> dict[str, Any]:
    """`column_config` for `st.dataframe(frame)`: headings, formats, then `overrides`."""
    config: dict[str, Any] = {}
    for name, dtype in frame.dtypes.items():
        label = heading(str(name))
        if _is_time(dtype):
            # The zone the values are in (prepare() puts them in the viewer's; naive is UTC).
            zone = str(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else "UTC"
            config[str(name)] = st.column_config.DatetimeColumn(
                f"{label} ({zone})", format=TIME_FORMAT
            )
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            config[str(name)] = st.column_config.NumberColumn(label, format=COUNT_FORMAT)
        else:
            config[str(name)] = st.column_config.Column(label)
    config.update(overrides)
    return config


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy for display: UTC times in the viewer's zone, missing text as an em dash."""
    out = frame.copy()
    for name, dtype in out.dtypes.items():
        if _is_time(dtype):
            out[name] = pd.to_datetime(out[name], utc=True).dt.tz_convert(viewer_time.zone())
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out[name] = out[name].map(lambda v: MISSING if _missing(v) else v)
    return out


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, tuple, dict)) and bool(pd.isna(value)))


def height_for(rows: int, *, at_most: int = 20) -> int:
    """A table height in pixels showing `rows` rows (up to `at_most`) and the header."""
    return ROW_PX * (min(max(rows, 1), at_most) + 1) + 3


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 change`, `2 changes`, `1,247 events`."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"
