from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from dashboard.user_patterns import baseline_vs_day, users_by_day, weekday_hour_matrix


def _cells(rows):
    return pd.DataFrame(rows, columns=["weekday", "hour", "events"])


def test_heatmap_cells_land_on_their_iso_weekday_and_hour():
    # ISO weekdays: 1 is Monday, 7 is Sunday.
    grid = weekday_hour_matrix(_cells([(1, 23, 7), (2, 10, 1), (7, 0, 3)]))
    assert grid.loc["Mon", 23] == 7 and grid.loc["Tue", 10] == 1 and grid.loc["Sun", 0] == 3
    assert int(grid.to_numpy().sum()) == 11
    assert list(grid.index) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert list(grid.columns) == list(range(24))


def test_empty_cells_give_an_all_zero_grid():
    grid = weekday_hour_matrix(_cells([]))
    assert grid.shape == (7, 24) and int(grid.to_numpy().sum()) == 0


def _features(rows):
    base = {
        "user_email": "",
        "searches": 0,
        "views": 0,
        "downloads": 0,
        "exports": 0,
        "records_exported": 0,
        "config_change": 0,
        "user_management": 0,
        "distinct_resources": 1,
        "distinct_ips": 1,
        "off_hours_events": 0,
    }
    return pd.DataFrame(
        [{**base, "day": d, "user_id": u, "events": n, **extra} for d, u, n, extra in rows]
    )


def test_users_by_day_is_busiest_first_and_days_in_order():
    frame = _features(
        [
            (date(2025, 1, 2), "a", 1, {}),
            (date(2025, 1, 1), "b", 10, {}),
            (date(2025, 1, 2), "b", 5, {}),
            (date(2025, 1, 1), "c", 3, {}),
        ]
    )
    matrix = users_by_day(frame, top=2)
    assert list(matrix.index) == ["b", "c"]
    assert list(matrix.columns) == [date(2025, 1, 1), date(2025, 1, 2)]
    assert matrix.loc["b", date(2025, 1, 2)] == 5 and matrix.loc["c", date(2025, 1, 2)] == 0


def test_baseline_counts_idle_days_as_zero():
    frame = _features(
        [
            (date(2025, 1, 1), "a", 10, {"exports": 1}),
            (date(2025, 1, 3), "a", 30, {"exports": 0}),
            (date(2025, 1, 5), "a", 200, {"exports": 6, "records_exported": 12000}),
            (date(2025, 1, 5), "other", 999, {}),
        ]
    )
    table = baseline_vs_day(frame, "a", date(2025, 1, 5), baseline_days=4).set_index("feature")
    assert table.loc["events", "baseline_mean"] == 10.0  # (10 + 30) / 4 days
    assert table.loc["events", "baseline_max"] == 30
    assert table.loc["events", "day"] == 200
    assert table.loc["events", "ratio"] == 20.0
    assert table.loc["records_exported", "day"] == 12000
    assert pd.isna(table.loc["records_exported", "ratio"])
    with pytest.raises(ValueError, match="baseline_days"):
        baseline_vs_day(frame, "a", date(2025, 1, 5), baseline_days=0)
