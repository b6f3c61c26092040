from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.config_changes import (
    change_history,
    config_change_events,
    describe_changes,
    field_changes,
    is_disabling,
    never_reverted,
)
from sql.event_store import insert_events
from tests.factories import event_row

T0 = datetime(2025, 1, 10, 16, 45, tzinfo=UTC)


def test_before_after_from_every_producer_shape():
    assert describe_changes({"changes": {"threshold": {"old": 100, "new": 200}}}) == (
        "Threshold 100 -> 200"
    )
    assert describe_changes({"changes": {"threshold": [100, 200]}}) == "Threshold 100 -> 200"
    assert (
        describe_changes({"changes": [{"field": "retentionDays", "from": 30, "to": 7}]})
        == "Retention days 30 -> 7"
    )
    assert (
        describe_changes(
            {
                "oldValues": {"threshold": 100, "name": "x"},
                "newValues": {"threshold": 200, "name": "x"},
            }
        )
        == "Threshold 100 -> 200"
    )
    assert (
        describe_changes({"old_values": {"enabled": True}, "new_values": {"enabled": False}})
        == "Enabled true -> false"
    )
    # changes as plain new values, old taken from old_values
    assert field_changes({"changes": {"threshold": 200}, "old_values": {"threshold": 100}}) == [
        ("threshold", 100, 200)
    ]
    assert describe_changes(None) == "" and describe_changes({"changes": "garbage"}) == ""


def test_disabling_by_action_or_switch_field():
    assert is_disabling("disable_alert", {})
    assert is_disabling("update_alert", {"changes": {"enabled": {"old": True, "new": False}}})
    assert is_disabling("update_source", {"changes": {"status": ["active", "paused"]}})
    assert not is_disabling("update_alert", {"changes": {"threshold": [100, 200]}})
    assert not is_disabling("enable_alert", {})


def _frame(rows):
    return pd.DataFrame(
        [
            {
                "id": f"e{i}",
                "event_time": T0 + timedelta(hours=i),
                "user_id": who,
                "user_email": f"{who}@company.com",
                "event_action": action,
                "resource_type": "alert_rule",
                "resource_id": rid,
                "details": details,
            }
            for i, (who, action, rid, details) in enumerate(rows)
        ]
    )


def test_never_reverted_keeps_only_disables_without_a_later_enable():
    events = _frame(
        [
            ("sarah", "disable_alert", "high-error-rate", {"reason": "Testing, will re-enable"}),
            ("tom", "disable_alert", "disk-full", {}),
            ("tom", "update_alert", "disk-full", {"changes": {"enabled": [False, True]}}),
            ("ann", "update_alert", "latency", {"changes": {"threshold": [100, 200]}}),
        ]
    )
    open_ = never_reverted(events)
    assert list(open_["target"]) == ["alert_rule:high-error-rate"]
    assert open_.loc[0, "who"] == "sarah@company.com"
    assert open_.loc[0, "reason"] == "Testing, will re-enable"
    history = change_history(events)
    assert list(history["change"])[3] == "Threshold 100 -> 200"
    assert history["who"].iloc[0] == "sarah@company.com"


def test_config_change_query_is_org_scoped_and_limited(db):
    rows = [
        event_row(
            event_type="config_change",
            event_action="update_alert",
            event_time=T0 + timedelta(minutes=i),
            resource_type="alert_rule",
            resource_id="high-error-rate",
            details={"changes": {"threshold": {"old": 100, "new": 200 + i}}},
        )
        for i in range(3)
    ]
    rows.append(event_row(event_type="log_access", event_time=T0))
    rows.append(
        event_row(organization_id="org_b", event_type="config_change", event_time=T0, details={})
    )
    with db.writer() as session:
        insert_events(session, rows)
    frame, truncated = config_change_events(db, "org_a", T0, T0 + timedelta(days=1), limit=2)
    assert truncated and len(frame) == 2
    assert describe_changes(frame.loc[0, "details"]) == "Threshold 100 -> 202"  # newest first
    frame, truncated = config_change_events(db, "org_a", T0, T0 + timedelta(days=1))
    assert not truncated and len(frame) == 3
    other, _ = config_change_events(db, "org_b", T0, T0 + timedelta(days=1))
    assert len(other) == 1 and "high-error-rate" not in set(other["resource_id"])
