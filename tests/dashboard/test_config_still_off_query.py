"""What is still switched off now: the database narrows the history, Python judges it, and the
answer is the one `never_reverted` gives over every config change, however long the history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from dashboard.config_changes import config_change_events, never_reverted, still_switched_off
from sql.event_store import insert_events
from tests.factories import event_row

NOW = datetime.now(UTC)
EVER = datetime(2000, 1, 1, tzinfo=UTC)


def _change(when, action, rid, details, *, org="org_a", kind="alert_rule", ident=None):
    fields = {
        "organization_id": org,
        "event_type": "config_change",
        "event_action": action,
        "event_time": when,
        "user_id": "sarah",
        "user_email": "sarah@company.com",
        "resource_type": kind,
        "resource_id": rid,
        "details": details,
    }
    if ident is not None:
        fields["id"] = ident
    return event_row(**fields)


def _ids(frame):
    return sorted(frame["id"])


def test_an_old_disable_behind_more_changes_than_the_limit_still_shows(db):
    # Forty days ago, then thirty edits of other alerts: more than the limit of ten, none of
    # which can switch anything, so none is read.
    old = _change(NOW - timedelta(days=40), "disable_alert", "payments-spike", {}, ident="old")
    edits = [
        _change(
            NOW - timedelta(days=30 - i),
            "update_alert",
            f"alert_{i}",
            {"changes": {"threshold": {"old": 50, "new": 100}}},
        )
        for i in range(30)
    ]
    with db.writer() as session:
        insert_events(session, [old, *edits])
    still_off, cut = still_switched_off(db, "org_a", NOW, limit=10)
    assert list(still_off["id"]) == ["old"]
    assert list(still_off["target"]) == ["alert_rule:payments-spike"]
    assert not cut


def test_the_answer_is_never_reverted_over_the_whole_history(db):
    t = NOW - timedelta(days=100)
    hour = timedelta(hours=1)
    rows = [
        # Switched off and on by verb, then off again: the last one is open.
        _change(t, "disable_alert", "a", {}),
        _change(t + hour, "enable_alert", "a", {}),
        _change(t + 2 * hour, "disable_alert", "a", {"reason": "noisy"}, ident="open_a"),
        # Off, then back on: nothing open.
        _change(t, "pause_source", "b", {}, kind="source"),
        _change(t + hour, "resume-source", "b", {}, kind="source"),
        # Switched off by a field, in every shape and spelling producers use.
        _change(t, "update_source", "c", {"changes": {"state": ["on", " OFF "]}}, ident="c"),
        _change(
            t,
            "update_alert",
            "d",
            {"changes": [{"field": "isEnabled", "from": 1, "to": 0}]},
            ident="d",
        ),
        _change(
            t,
            "update_alert",
            "e",
            {"old_values": {"active": "yes"}, "new_values": {"active": "\tInactive\n"}},
            ident="e",
        ),
        _change(
            t, "update_alert", "f", json.dumps({"changes": {"enabled": [True, False]}}), ident="f"
        ),
        # Not switches: a capitalised field, a threshold of 50 -> 0, a rename.
        _change(t, "update_alert", "g", {"changes": {"Enabled": [True, False]}}),
        _change(t, "update_alert", "h", {"changes": {"threshold": [50, 0]}}),
        _change(t, "update_alert", "i", {"changes": {"name": ["no", "off"]}}),
        # The newest "on" verb switched it off: the older, still open, disable counts too.
        _change(t, "update_source", "j", {"changes": {"status": ["active", "paused"]}}, ident="j1"),
        _change(
            t + hour, "enable_source", "j", {"changes": {"enabled": [True, False]}}, ident="j2"
        ),
        # An action spelled with the Kelvin sign, which Python lowers to "revoke".
        _change(t, "revo\u212ae_key", "k", {}, kind="api_key", ident="k"),
        # No resource type and an empty one are the same target: switched back on.
        _change(t, "disable_alert", "l", {}, kind=None),
        _change(t + hour, "enable_alert", "l", {}, kind=""),
        # At the same instant, the later id wins: m stays on, n stays off.
        _change(t, "disable_alert", "m", {}, ident="m1"),
        _change(t, "enable_alert", "m", {}, ident="m2"),
        _change(t, "enable_alert", "n", {}, ident="n1"),
        _change(t, "disable_alert", "n", {}, ident="n2"),
        # Another organisation's alert, still off, is not this one's.
        _change(t, "disable_alert", "a", {}, org="org_b"),
    ]
    with db.writer() as session:
        insert_events(session, rows)
    every_change, _ = config_change_events(db, "org_a", EVER, NOW, limit=10_000)
    expected = never_reverted(every_change)
    still_off, cut = still_switched_off(db, "org_a", NOW)
    assert _ids(still_off) == _ids(expected)
    assert _ids(still_off) == ["c", "d", "e", "f", "j1", "j2", "k", "n2", "open_a"]
    assert not cut
    assert still_off.equals(expected)


def test_a_switch_turned_back_on_later_than_the_end_is_still_off_at_the_end(db):
    t = NOW - timedelta(days=10)
    rows = [
        _change(t, "disable_alert", "a", {}, ident="off"),
        _change(t + timedelta(days=5), "enable_alert", "a", {}),
    ]
    with db.writer() as session:
        insert_events(session, rows)
    assert list(still_switched_off(db, "org_a", t + timedelta(days=1))[0]["id"]) == ["off"]
    assert still_switched_off(db, "org_a", NOW)[0].empty
