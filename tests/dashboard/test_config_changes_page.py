"""The Config changes page: before/after text, never-reverted disables, org isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row

T0 = datetime(2025, 1, 10, 16, 45, tzinfo=UTC)


def _change(org, minutes, who, action, rid, details):
    return event_row(
        organization_id=org,
        event_type="config_change",
        event_action=action,
        event_time=T0 + timedelta(minutes=minutes),
        user_id=who,
        user_email=f"{who}@company.com",
        resource_type="alert_rule",
        resource_id=rid,
        details=details,
    )


def _seed(db):
    rows = [
        _change("org_a", 0, "sarah", "disable_alert", "high-error-rate", {"reason": "Testing"}),
        _change("org_a", 5, "tom", "disable_alert", "disk-full", {}),
        _change("org_a", 9, "tom", "enable_alert", "disk-full", {}),
        _change(
            "org_a",
            12,
            "ann",
            "update_alert",
            "latency",
            {"changes": {"threshold": {"old": 100, "new": 200}}},
        ),
        _change("org_b", 3, "mallory", "disable_alert", "org-b-secret-alert", {}),
        event_row(organization_id="org_a", event_time=T0 + timedelta(minutes=20)),
    ]
    with db.writer() as session:
        insert_events(session, rows)


def test_history_and_never_reverted_disables(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("lead@company.com", "org_a", "auditor")
    at = page_test("config_changes.py", token).run()
    assert not at.exception
    assert at.selectbox(key="config_period_preset").value == "Last 30 days"
    at.selectbox(key="config_period_preset").set_value("All time").run()
    assert not at.exception
    never = at.dataframe[0].value
    assert list(never["target"]) == ["alert_rule:high-error-rate"]
    assert list(never["who"]) == ["sarah@company.com"]
    history = at.dataframe[1].value
    assert len(history) == 4
    assert "Threshold 100 -> 200" in set(history["change"])
    shown = " ".join(str(v) for frame in (never, history) for v in frame.to_numpy().ravel())
    assert "org-b-secret-alert" not in shown and "mallory" not in shown


def test_other_organisation_sees_only_its_own(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("eve@company.com", "org_b", "admin")
    at = page_test("config_changes.py", token).run()
    at.selectbox(key="config_period_preset").set_value("All time").run()
    assert not at.exception
    never = at.dataframe[0].value
    assert list(never["target"]) == ["alert_rule:org-b-secret-alert"]
    assert set(at.dataframe[1].value["who"]) == {"mallory@company.com"}


def test_empty_period_says_so(dashboard_db, sign_in):
    token = sign_in("lead@company.com", "org_a", "analyst")
    at = page_test("config_changes.py", token).run()
    assert not at.exception
    assert any("No configuration changes" in i.value for i in at.info)
