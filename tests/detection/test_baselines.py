"""Baselines: trailing own medians exclude the day itself; peers are compared per day."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from detection.baselines import add_own_baselines, add_peer_baselines, days_since_previous_activity


def test_own_baseline_is_the_median_of_previous_active_days_only():
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(12)]
    values = [10, 10, 12, 8, 10, 11, 9, 10, 10, 100, 10, 10]
    frame = pd.DataFrame({"day": days, "user_id": "u1", "exports": values})
    frame = frame.drop(index=[4])  # a day off: not a zero in the baseline
    out = add_own_baselines(frame, ["exports"], window=30, min_days=5).set_index("day")
    spike = out.loc[date(2025, 1, 10)]
    assert spike["exports_own_median"] == 10  # median of 10,10,12,8,11,9,10,10
    assert spike["exports_own_ratio"] == 10
    assert spike["exports_own_z"] > 10
    assert np.isnan(out.loc[date(2025, 1, 3), "exports_own_ratio"])  # too little history
    assert out.loc[date(2025, 1, 6), "days_since_previous"] == 2


def test_days_since_previous_activity_is_nan_before_the_first_day():
    grid = np.array([[np.nan, 1, np.nan, np.nan, 1]], dtype=np.float32)
    out = days_since_previous_activity(grid)
    assert np.isnan(out[0, 1]) and out[0, 4] == 3


def test_peer_baseline_is_the_group_median_of_the_day():
    frame = pd.DataFrame(
        {
            "day": [date(2025, 1, 1)] * 4,
            "user_id": ["a", "b", "c", "d"],
            "peer_group": ["x", "x", "x", "y"],
            "exports": [2.0, 2.0, 20.0, 7.0],
        }
    )
    out = add_peer_baselines(frame, ["exports"]).set_index("user_id")
    assert out.loc["c", "exports_peer_median"] == 2
    assert out.loc["c", "exports_peer_ratio"] == 10
    assert out.loc["d", "exports_peer_ratio"] == 1


def _pandas_own_baselines(frame: pd.DataFrame, column: str, window: int) -> pd.DataFrame:
    """The straightforward computation: per row, the median, MAD and count of the user's
    rows in the `window` calendar days before it (NaN values left out)."""
    out = []
    for row in frame.itertuples(index=False):
        past = frame.loc[
            (frame["user_id"] == row.user_id)
            & (frame["day"] < row.day)
            & (frame["day"] >= row.day - timedelta(days=window))
        ]
        values = past[column].dropna().to_numpy(dtype=np.float32)
        median = np.median(values) if len(values) else np.nan
        mad = np.median(np.abs(values - median)) if len(values) else np.nan
        out.append((median, mad, len(past)))
    return pd.DataFrame(out, columns=["median", "mad", "history_days"])


def test_own_baselines_equal_the_straightforward_computation_on_odd_shapes():
    rng = np.random.default_rng(3)
    start = date(2025, 1, 1)
    rows = []
    # Users active every day, some days, one day only, in bursts with long gaps; values
    # with ties, zeros, a missing value, and spans past the window.
    for user, days in {
        "every": range(50),
        "some": sorted(rng.choice(50, size=20, replace=False)),
        "once": [17],
        "bursts": [*range(0, 4), *range(40, 49)],
        "late": range(45, 50),
    }.items():
        for d in days:
            searches, exports = float(rng.integers(0, 4)), float(rng.poisson(20))
            day = start + timedelta(days=int(d))
            rows.append({"day": day, "user_id": user, "searches": searches, "exports": exports})
    frame = pd.DataFrame(rows).sample(frac=1, random_state=1, ignore_index=True)
    frame.loc[frame.index[5], "exports"] = np.nan
    out = add_own_baselines(frame, ["searches", "exports"], window=7, min_days=1)
    for column in ("searches", "exports"):
        expected = _pandas_own_baselines(frame, column, window=7)
        enough = expected["history_days"] >= 1
        median = np.where(enough, expected["median"], np.nan)
        np.testing.assert_array_equal(out[f"{column}_own_median"], median.astype(np.float32))
        spread = (1.4826 * expected["mad"].to_numpy(dtype=np.float32)).astype(np.float32)
        value = frame[column].to_numpy(dtype=np.float32)
        z = np.where(enough, (value - median) / np.maximum(spread, 1.0), np.nan)
        np.testing.assert_array_equal(out[f"{column}_own_z"], z.astype(np.float32))
    np.testing.assert_array_equal(out["history_days"], expected["history_days"])
