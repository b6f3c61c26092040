"""The Overview page on the known data set: totals, family metrics, the timeline and the
rankings show exactly the seeded figures, and nothing of the other organisation."""

from __future__ import annotations

import json

from tests.dashboard.conftest import page_test
from tests.dashboard.known_data import FIRST_DAY, LAST_DAY, seed


def _figures(at):
    return {
        json.loads(chart.proto.spec)["layout"]["title"]["text"]: json.loads(chart.proto.spec)
        for chart in at.get("plotly_chart")
    }


def _known_period(at):
    at.selectbox(key="overview_period_preset").set_value("Custom days").run()
    at.date_input(key="overview_period_days").set_value((FIRST_DAY, LAST_DAY)).run()
    return at


def test_overview_shows_the_known_figures(dashboard_db, sign_in):
    seed(dashboard_db)
    token = sign_in("lead@company.com", "org_a", "analyst")
    at = _known_period(page_test("overview.py", token).run())
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Events"] == "10"
    assert metrics["Users"] == "2"
    assert metrics["Resources"] == "2"
    assert metrics["log access"] == "5"
    assert metrics["config change"] == "3"
    assert metrics["data modification"] == "2"
    figures = _figures(at)
    timeline = figures["Events over time"]
    per_family = {t["name"]: t for t in timeline["data"]}
    assert set(per_family) == {"log_access", "config_change", "data_modification"}
    assert per_family["config_change"]["customdata"][0] == ["config_change"]
    users = figures["Top users"]["data"][0]
    assert users["y"] == ["sarah@company.com", "john@company.com"]  # largest at the top
    resources = figures["Top sources"]["data"][0]
    assert "source:org-b-secret" not in resources["y"]


def test_overview_of_the_other_organisation(dashboard_db, sign_in):
    seed(dashboard_db)
    token = sign_in("eve@org-b.com", "org_b", "admin")
    at = _known_period(page_test("overview.py", token).run())
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Events"] == "7" and metrics["Users"] == "1"
    assert "config change" not in metrics
    users = _figures(at)["Top users"]["data"][0]
    assert users["y"] == ["mallory@org-b.com"]


def test_overview_empty_period_says_so(dashboard_db, sign_in):
    token = sign_in("lead@company.com", "org_a", "auditor")
    at = _known_period(page_test("overview.py", token).run())
    assert not at.exception
    assert any("No audit events in this period" in i.value for i in at.info)


def test_selecting_bars_drills_down_to_their_events(dashboard_db, sign_in):
    seed(dashboard_db)
    token = sign_in("lead@company.com", "org_a", "analyst")
    at = _known_period(page_test("overview.py", token).run())
    at.session_state["overview_timeline"] = {
        "selection": {
            "points": [{"x": "2025-01-14 16:00", "customdata": ["config_change"]}],
            "point_indices": [0],
        }
    }
    at.session_state["overview_top_users"] = {
        "selection": {"points": [{"customdata": ["u_john"]}], "point_indices": [1]}
    }
    at.run()
    assert not at.exception
    queries = [c.value for c in at.code]
    assert "family:config_change created:2025-01-14T16:00:00Z..2025-01-14T16:59:59.999999Z" in (
        queries
    )
    assert "user:u_john created:2025-01-13..2025-01-16" in queries


def test_latest_findings_show_when_it_happened_honour_the_period_and_open(dashboard_db, sign_in):
    from datetime import timedelta

    from tests.dashboard.known_data import seed_findings

    seed_findings(dashboard_db)
    token = sign_in("lead@company.com", "org_a", "analyst")
    at = _known_period(page_test("overview.py", token).run())
    assert not at.exception
    latest = at.dataframe[-1]
    frame = latest.value
    assert "window_start" in frame.columns and "created_at" not in frame.columns
    assert set(frame["title"]) == {"Export at 2 a.m.", "Config burst"}
    assert frame["window_start"].dt.date.astype(str).tolist() == ["2025-01-15", "2025-01-15"]
    # A period without the findings' activity lists none of them.
    at.date_input(key="overview_period_days").set_value(
        (FIRST_DAY, FIRST_DAY + timedelta(days=1))
    ).run()
    assert not at.exception
    assert any("No findings in this period" in c.value for c in at.caption)
