"""Explore's timeline follows the data: bars as wide as its span needs, an x-axis over the
data only (never into the future), axis titles with the unit, bar width and time zone."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from dashboard.explore_queries import BIN_WIDTHS, MAX_BARS, bins_for
from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row


def _values(array):
    """A Plotly JSON array: a list, or a typed array ({"dtype", "bdata"} in base64)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_bins_follow_the_span():
    first = datetime(2025, 3, 3, 9, 0, 30, tzinfo=UTC)
    bins = bins_for(first, first + timedelta(minutes=5))
    assert bins.width == timedelta(minutes=1) and bins.label == "1 minute"
    assert bins.start == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert bins.end == datetime(2025, 3, 3, 9, 6, tzinfo=UTC)
    assert bins_for(first, first).width == timedelta(minutes=1)
    for days, label in ((3, "1 hour"), (20, "6 hours"), (100, "1 day"), (5000, "1 week")):
        wide = bins_for(first, first + timedelta(days=days))
        assert wide.label == label
        assert (wide.end - wide.start) / wide.width <= MAX_BARS + 1 or wide.width == BIN_WIDTHS[-1]


def test_six_events_in_five_minutes_are_minute_bars_not_one_bar(dashboard_db, sign_in):
    now = datetime.now(UTC)
    first = now - timedelta(days=2)
    rows = [
        event_row(id=f"e{i}", event_time=first + timedelta(minutes=i)) for i in (0, 1, 2, 3, 4, 5)
    ]
    with dashboard_db.writer() as session:
        insert_events(session, rows)
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="family:log_access").run()
    at.selectbox(key="explore_preset").set_value("Last 30 days").run()
    assert not at.exception
    (chart,) = at.get("plotly_chart")
    figure = json.loads(chart.proto.spec)
    bars = [t for t in figure["data"] if t["type"] == "bar"]
    assert sum(sum(_values(t["y"])) for t in bars) == 6
    assert len(_values(bars[0]["x"])) == 6  # one bar per minute
    assert bars[0]["width"] == 60_000
    layout = figure["layout"]
    low, high = (pd.Timestamp(v) for v in layout["xaxis"]["range"])
    low, high = (t if t.tzinfo else t.tz_localize("UTC") for t in (low, high))
    assert low <= pd.Timestamp(first) < low + pd.Timedelta(minutes=1)
    assert high - low == pd.Timedelta(minutes=6)
    assert high <= pd.Timestamp(now) + pd.Timedelta(minutes=1)  # not into the future
    assert layout["xaxis"]["title"]["text"] == "Time (UTC), bars of 1 minute"
    assert layout["yaxis"]["title"]["text"] == "Events per 1 minute"
