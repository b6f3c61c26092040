"""Per-user patterns for the Users page, computed from read-model frames (never raw events).

Inputs have the read model's contracted shapes: `user_heatmap` (weekday and hour cells in the
viewer's time zone) and `user_day_features` (one row per user and UTC day).
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from zoneinfo import available_timezones

import numpy as np
import pandas as pd

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = tuple(range(24))


@functools.cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name, sorted: the zone files are read once per process, not per run."""
    return tuple(sorted(available_timezones()))


# Features compared between a user's baseline and the day in question, in display order.
BASELINE_FEATURES: tuple[str, ...] = (
    "events",
    "searches",
    "views",
    "downloads",
    "exports",
    "records_exported",
    "config_change",
    "user_management",
    "distinct_resources",
    "distinct_ips",
    "off_hours_events",
)


def weekday_hour_matrix(cells: pd.DataFrame) -> pd.DataFrame:
    """Events by weekday (rows Mon..Sun) and hour of day (columns 0..23), from the read
    model's `user_heatmap` cells (ISO weekday 1..7, local hour, events), which are already
    in the viewer's time zone."""
    counts = np.zeros((len(WEEKDAYS), len(HOURS)), dtype="int64")
    for weekday, hour, n in zip(cells["weekday"], cells["hour"], cells["events"], strict=True):
        counts[int(weekday) - 1, int(hour)] += int(n)
    return pd.DataFrame(counts, index=list(WEEKDAYS), columns=list(HOURS))


def users_by_day(features: pd.DataFrame, top: int = 30) -> pd.DataFrame:
    """Events per user (rows, busiest first, at most `top`) and UTC day (columns, in order)."""
    if features.empty:
        return pd.DataFrame(dtype="int64")
    # groupby and unstack give pivot_table's table at a third of its cost.
    table = features.groupby(["user_id", "day"])["events"].sum().unstack("day", fill_value=0)
    busiest = table.sum(axis=1).sort_values(ascending=False, kind="stable").index[:top]
    table = table.loc[busiest]
    table = table.reindex(sorted(table.columns), axis=1)
    return table.astype("int64")


def baseline_vs_day(
    features: pd.DataFrame, user_id: str, day: date, baseline_days: int
) -> pd.DataFrame:
    """One user's `day` against their baseline: the `baseline_days` days before it.

    `features` holds active days only, so idle days count as zero: the mean divides by
    `baseline_days`, not by the number of rows. Columns: feature, baseline_mean,
    baseline_max, day, ratio (day / mean; NaN when the mean is 0).
    """
    if baseline_days < 1:
        raise ValueError(f"baseline_days must be at least 1, got: {baseline_days}")
    first = day - timedelta(days=baseline_days)
    mine = features[features["user_id"] == user_id]
    before = mine[(mine["day"] >= first) & (mine["day"] < day)]
    today = mine[mine["day"] == day]
    rows = []
    for feature in BASELINE_FEATURES:
        if feature not in features.columns:
            continue
        mean = float(before[feature].sum()) / baseline_days
        peak = float(before[feature].max()) if not before.empty else 0.0
        value = float(today[feature].sum())
        rows.append(
            {
                "feature": feature,
                "baseline_mean": round(mean, 2),
                "baseline_max": peak,
                "day": value,
                "ratio": round(value / mean, 2) if mean else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["feature", "baseline_mean", "baseline_max", "day", "ratio"])
