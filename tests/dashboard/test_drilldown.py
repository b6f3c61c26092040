from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dashboard import drilldown
from dashboard.period import all_time_period, anchor_end, day_period, preset_period
from sql.event_filter import EventFilter


def test_queries_for_selections():
    start = datetime(2025, 1, 15, 14, tzinfo=UTC)
    assert drilldown.bucket_query("log_access", start, timedelta(hours=1)) == (
        "family:log_access created:2025-01-15T14:00:00Z..2025-01-15T14:59:59.999999Z"
    )
    assert drilldown.user_day_query("john@company.com", date(2025, 1, 15)) == (
        "user:john@company.com created:2025-01-15..2025-01-15"
    )
    assert drilldown.resource_query("source", "payment logs", start, start + timedelta(days=1)) == (
        'resource_type:source resource:"payment logs" '
        "created:2025-01-15T14:00:00Z..2025-01-16T13:59:59.999999Z"
    )
    assert drilldown.quote('a"b') == '"a\\"b"'


def test_selection_payloads_are_read_from_dicts_and_attributes():
    assert drilldown.selected_points(None) == []
    assert drilldown.selected_points({"selection": {"points": [{"x": 1}]}}) == [{"x": 1}]
    assert drilldown.selected_rows({"selection": {"rows": [2]}}) == [2]
    assert drilldown.selected_rows({"selection": {"rows": []}}) == []


def test_periods():
    end = anchor_end(datetime(2025, 1, 15, 14, 32, tzinfo=UTC))
    assert end == datetime(2025, 1, 15, 15, tzinfo=UTC)
    everything = all_time_period(datetime(2024, 3, 2, 9, 30, tzinfo=UTC), end)
    assert everything.start == datetime(2024, 3, 2, tzinfo=UTC) and everything.bucket == "day"
    assert all_time_period(None, end).start == end - timedelta(days=1)
    week = preset_period("Last 7 days", end)
    assert week.start == datetime(2025, 1, 8, 15, tzinfo=UTC) and week.bucket == "hour"
    assert preset_period("Last 30 days", end).bucket == "day"
    days = day_period(date(2024, 10, 1), date(2024, 12, 31))
    assert days.first_day == date(2024, 10, 1) and days.last_day == date(2024, 12, 31)
    assert days.end == datetime(2025, 1, 1, tzinfo=UTC)


def test_selections_become_queries():
    points = [
        {"x": "2025-01-15 14:00", "customdata": ["log_access"]},
        {"x": "2025-01-15 16:00:00+00:00", "customdata": ["config_change"]},
    ]
    assert drilldown.timeline_selection_query(points, timedelta(hours=1)) == (
        "family:config_change family:log_access "
        "created:2025-01-15T14:00:00Z..2025-01-15T16:59:59.999999Z"
    )
    assert drilldown.timeline_selection_query([], timedelta(hours=1)) is None
    cells = drilldown.matrix_selection_cells(
        [{"customdata": ["bob", "2025-01-03"]}, {"customdata": ["al", "2025-01-01"]}]
    )
    assert drilldown.users_days_query(cells) == "user:al user:bob created:2025-01-01..2025-01-03"
    assert drilldown.ranking_selection_values(
        [{"customdata": ["u1"]}, {"customdata": ["u1"]}, {"customdata": ["u2"]}]
    ) == [["u1"], ["u2"]]


def test_every_drilldown_query_parses_to_the_selected_events():
    start = datetime(2025, 1, 15, 14, tzinfo=UTC)
    query = drilldown.bucket_query("log_access", start, timedelta(hours=1))
    parsed = EventFilter.parse(query)
    assert parsed.families == ("log_access",)
    assert (parsed.start, parsed.end) == (start, start + timedelta(hours=1))
    day = EventFilter.parse(drilldown.user_day_query("a b", date(2025, 1, 15)))
    assert day.users == ("a b",)
    assert (day.start, day.end) == (
        datetime(2025, 1, 15, tzinfo=UTC),
        datetime(2025, 1, 16, tzinfo=UTC),
    )
