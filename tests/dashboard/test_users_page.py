"""The Users page on the known data set: the heatmap follows the chosen time zone, the
users-by-day matrix and the baseline show the seeded counts, a heatmap cell drills down to
exactly its events, and nothing of the other organisation appears."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.dashboard.conftest import EXPLORE, page_test
from tests.dashboard.known_data import FIRST_DAY, seed
from tests.factories import event_row

WED = date(2025, 1, 15)


def _figure(at, title):
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"]["title"]["text"] == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def _cells(spec):
    trace = spec["data"][0]
    return {
        tuple(c): int(n.replace(",", ""))
        for c, n in zip(trace["customdata"], trace["text"], strict=True)
    }


def _table(at, column):
    """The dataframe that has `column` (display-only tables carry no key in AppTest)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")


def _open(token):
    at = page_test("users.py", token).run()
    at.selectbox(key="users_period_preset").set_value("Custom days").run()
    at.date_input(key="users_period_days").set_value((FIRST_DAY, WED)).run()
    return at


def test_heatmap_matrix_and_baseline(dashboard_db, sign_in):
    seed(dashboard_db)
    at = _open(sign_in("lead@company.com", "org_a", "analyst"))
    assert not at.exception
    user = at.selectbox(key="users_user")
    assert user.options[:2] == ["john@company.com (u_john)", "sarah@company.com (u_sarah)"]
    assert user.value == "u_john"
    heat = _cells(_figure(at, "Events by weekday and hour"))
    assert heat == {("Wed", "14"): 5, ("Wed", "2"): 2}
    at.selectbox(key="users_tz").set_value("Asia/Tokyo").run()
    assert _cells(_figure(at, "Events by weekday and hour")) == {("Wed", "23"): 5, ("Wed", "11"): 2}
    matrix = _cells(_figure(at, "Events per user and day (UTC)"))
    assert matrix == {("u_john", "2025-01-15"): 7, ("u_sarah", "2025-01-14"): 3}
    baseline = _table(at, "baseline_mean").set_index("feature")
    assert baseline.loc["events", "day"] == 7
    assert baseline.loc["exports", "day"] == 2
    assert baseline.loc["events", "baseline_mean"] == 0


def test_heatmap_cell_drills_down_to_its_events(dashboard_db, sign_in):
    seed(dashboard_db)
    at = _open(sign_in("lead@company.com", "org_a", "analyst"))
    at.session_state["users_heatmap"] = {
        "selection": {"points": [{"customdata": ["Wed", "2"]}], "point_indices": [0]}
    }
    at.run()
    assert not at.exception
    events = _table(at, "event_action")
    assert len(events) == 2 and set(events["event_action"]) == {"export"}
    drill = [b for b in at.button if b.key == "users_heatmap_drill"]
    # The button opens Explore; without that page the exact query alone is shown.
    assert len(drill) == (1 if EXPLORE.exists() else 0)
    # Explore gets the weekday and hour too: the same 2 events as the cell, not all of john's.
    query = at.code[0].value
    assert query == "user:u_john weekday:wed hour:2 created:2025-01-13..2025-01-15"
    where, params = EventFilter.parse(query).sql_for(dashboard_db)
    with dashboard_db.org_session("org_a") as s:
        assert s.scalar(f"SELECT count(*) FROM org_audit_events WHERE {where}", params) == 2


def test_a_heatmap_cell_in_another_zone_keeps_the_zone(dashboard_db, sign_in):
    seed(dashboard_db)
    at = _open(sign_in("lead@company.com", "org_a", "analyst"))
    at.selectbox(key="users_tz").set_value("Asia/Tokyo").run()
    at.session_state["users_heatmap"] = {
        "selection": {"points": [{"customdata": ["Wed", "11"]}], "point_indices": [0]}
    }
    at.run()
    query = at.code[0].value
    assert query.endswith("tz:Asia/Tokyo") and "weekday:wed hour:11" in query
    where, params = EventFilter.parse(query).sql_for(dashboard_db)
    with dashboard_db.org_session("org_a") as s:
        assert s.scalar(f"SELECT count(*) FROM org_audit_events WHERE {where}", params) == 2


def test_clicking_a_day_compares_that_user_and_day_and_the_user_is_in_the_url(
    dashboard_db, sign_in
):
    seed(dashboard_db)
    at = _open(sign_in("lead@company.com", "org_a", "analyst"))
    assert at.query_params["user"] == ["u_john"] or at.query_params["user"] == "u_john"
    at.session_state["users_by_day"] = {
        "selection": {"points": [{"customdata": ["u_sarah", "2025-01-14"]}], "point_indices": [0]}
    }
    at.run()
    assert not at.exception
    assert at.selectbox(key="users_user").value == "u_sarah"
    assert any("on 2025-01-14 against" in h.value for h in at.subheader)
    baseline = _table(at, "baseline_mean").set_index("feature")
    assert baseline.loc["events", "day"] == 3


def test_the_baseline_day_is_complete_and_the_matrix_says_how_many_users_it_shows(
    dashboard_db, sign_in
):
    now = datetime.now(UTC)
    rows = [
        event_row(
            user_id=f"u{i:02d}", user_email=f"u{i:02d}@x.com", event_time=now - timedelta(days=1)
        )
        for i in range(35)
    ]
    rows.append(event_row(user_id="u00", user_email="u00@x.com", event_time=now))
    with dashboard_db.writer() as w:
        insert_events(w, rows)
    token = sign_in("lead@company.com", "org_a", "analyst")
    at = page_test("users.py", token, user="u00").run()
    assert not at.exception
    assert at.selectbox(key="users_user").value == "u00"
    yesterday = (now - timedelta(days=1)).date()
    assert any(f"on {yesterday} against" in h.value for h in at.subheader)
    assert "None" not in _table(at, "baseline_mean").astype(str).to_string()
    # 35, and whoever the dashboard's own use still counts among the analysed events.
    assert any(re.search(r"The 30 busiest of 3\d active users", c.value) for c in at.caption)
    spec = _figure(at, "Events per user and day (UTC)")
    assert spec["layout"]["yaxis"]["dtick"] == 1 and spec["layout"]["height"] >= 30 * 22


def test_other_organisation_never_shows(dashboard_db, sign_in):
    seed(dashboard_db)
    at = _open(sign_in("eve@org-b.com", "org_b", "analyst"))
    assert not at.exception
    assert at.selectbox(key="users_user").options == ["mallory@org-b.com (u_mallory)"]
    matrix = _cells(_figure(at, "Events per user and day (UTC)"))
    assert matrix == {("u_mallory", "2025-01-15"): 7}


def test_the_pages_figures_equal_a_direct_count_of_the_events(dashboard_db, sign_in):
    """Users with distinct activity (user i: i + 1 events) over the last ten days, some rolled
    up and some past the watermark, and another organisation's on the same days: the matrix,
    the heatmap and the baseline's day are the counts of the raw events."""
    import random

    from sql.read_model import ReadModel

    rng = random.Random(17)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for i in range(40):
        for _ in range(i + 1):
            when = now - timedelta(hours=rng.randrange(2, 10 * 24), minutes=rng.randrange(60))
            rows.append(
                event_row(user_id=f"u{i:02d}", user_email=f"u{i:02d}@x.com", event_time=when)
            )
    noise = [
        event_row(organization_id="org_b", user_id="u39", event_time=now - timedelta(hours=h))
        for h in range(2, 200, 3)
    ]
    with dashboard_db.writer() as w:
        insert_events(w, rows[::2] + noise)
    ReadModel(dashboard_db).refresh()
    with dashboard_db.writer() as w:
        insert_events(w, rows[1::2])
    at = page_test("users.py", sign_in("lead@company.com", "org_a", "analyst")).run()
    assert not at.exception
    assert at.selectbox(key="users_user").value == "u39"

    def counts(sql, params=None):
        with dashboard_db.org_session("org_a") as s:
            return {tuple(map(str, r[:-1])): int(r[-1]) for r in s.execute(sql, params).rows}

    per_day = counts(
        "SELECT user_id, (event_time AT TIME ZONE 'UTC')::date, count(*)"
        " FROM org_audit_events WHERE NOT own_use GROUP BY 1, 2"
    )
    busiest = {f"u{i:02d}" for i in range(10, 40)}
    assert _cells(_figure(at, "Events per user and day (UTC)")) == {
        key: n for key, n in per_day.items() if key[0] in busiest
    }
    by_hour = counts(
        "SELECT CASE extract(isodow FROM event_time AT TIME ZONE 'UTC')::int"
        " WHEN 1 THEN 'Mon' WHEN 2 THEN 'Tue' WHEN 3 THEN 'Wed' WHEN 4 THEN 'Thu'"
        " WHEN 5 THEN 'Fri' WHEN 6 THEN 'Sat' ELSE 'Sun' END,"
        " extract(hour FROM event_time AT TIME ZONE 'UTC')::int, count(*)"
        " FROM org_audit_events WHERE NOT own_use AND user_id = 'u39' GROUP BY 1, 2"
    )
    assert _cells(_figure(at, "Events by weekday and hour")) == by_hour
    yesterday = str((datetime.now(UTC) - timedelta(days=1)).date())
    baseline = _table(at, "baseline_mean").set_index("feature")
    assert baseline.loc["events", "day"] == per_day.get(("u39", yesterday), 0)
