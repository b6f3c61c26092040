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
