"""The Users page on the known data set: the heatmap follows the chosen time zone, the
users-by-day matrix and the baseline show the seeded counts, a heatmap cell drills down to
exactly its events, and nothing of the other organisation appears."""

from __future__ import annotations

import json
from datetime import date

from tests.dashboard.conftest import EXPLORE, page_test
from tests.dashboard.known_data import FIRST_DAY, seed

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
    assert "user:u_john created:" in at.code[0].value


def test_other_organisation_never_shows(dashboard_db, sign_in):
    seed(dashboard_db)
    at = _open(sign_in("eve@org-b.com", "org_b", "analyst"))
    assert not at.exception
    assert at.selectbox(key="users_user").options == ["mallory@org-b.com (u_mallory)"]
    matrix = _cells(_figure(at, "Events per user and day (UTC)"))
    assert matrix == {("u_mallory", "2025-01-15"): 7}
