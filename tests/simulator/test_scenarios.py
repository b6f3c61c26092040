"""Every planted scenario appears, labelled with its user, time range and event ids, and
its events really show what the scenario claims."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator import SCENARIOS
from simulator.sources import RESTRICTED_SOURCE_IDS
from tests.simulator.fixtures import Output, simulate_to

Event = dict[str, Any]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Output:
    return simulate_to(tmp_path_factory.mktemp("scenarios"))


def _label(out: Output, name: str) -> tuple[dict[str, Any], list[Event]]:
    label = next(s for s in out.labels["scenarios"] if s["scenario"] == name)
    return label, [out.by_id[i] for i in label["event_ids"]]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _others(out: Output, label: dict[str, Any]) -> list[Event]:
    """The labelled user's events outside the label."""
    ids = set(label["event_ids"])
    return [e for e in out.events if e["user_id"] == label["user_id"] and e["id"] not in ids]


def test_every_scenario_is_labelled_with_existing_events(out: Output) -> None:
    scenarios = out.labels["scenarios"]
    assert Counter(s["scenario"] for s in scenarios) == dict.fromkeys(SCENARIOS, 1)
    roster = {u["user_id"] for u in out.labels["roster"]}
    for s in scenarios:
        assert s["event_ids"], s["scenario"]
        assert s["user_id"] in roster
        events = [out.by_id[i] for i in s["event_ids"]]  # KeyError: a label without its event
        for e in events:
            assert _t(s["start"]) <= _t(e["timestamp"]) <= _t(s["end"])
            # The labelled user did it, or (privilege escalation) it was done to them.
            assert s["user_id"] in (e["user_id"], e["resource_id"]), (s["scenario"], e)
    # Scenario users are distinct people when the organisation is big enough.
    assert len({s["user_id"] for s in scenarios}) == len(scenarios)


def test_bulk_customer_read(out: Output) -> None:
    label, events = _label(out, "bulk_customer_read")
    days = {e["timestamp"][:10] for e in events}
    assert len(days) == 1
    assert all(e["resource_id"] == "source_customer_data" for e in events)
    assert sum(e["details"]["results_count"] for e in events) >= 10_000
    # Far more reads than the same user on any other day.
    reads = [e for e in _others(out, label) if e["event_type"] == "log_access"]
    others = Counter(e["timestamp"][:10] for e in reads)
    assert len(events) > 2 * max(others.values())


def test_night_export(out: Output) -> None:
    label, events = _label(out, "night_export")
    tz = ZoneInfo(
        next(u["time_zone"] for u in out.labels["roster"] if u["user_id"] == label["user_id"])
    )
    exports = [e for e in events if e["event_action"] == "export"]
    assert len(exports) == 1
    assert _t(exports[0]["timestamp"]).astimezone(tz).hour == 2
    assert exports[0]["event_type"] == "data_modification"


def test_identity_search(out: Output) -> None:
    _, events = _label(out, "identity_search")
    assert all(e["event_action"] == "search" for e in events)
    assert any(e["details"]["query"] == "email:*@company.com" for e in events)
    benign = [
        e
        for e in out.events
        if e["event_action"] == "search"
        and "*@company.com" in e["details"]["query"]
        and e["id"] not in {x["id"] for x in events}
    ]
    assert benign == []


def test_alert_disabled_and_never_re_enabled(out: Output) -> None:
    _, events = _label(out, "alert_disabled")
    (disable,) = events
    assert disable["event_action"] == "disable_alert"
    assert disable["details"]["new_values"]["enabled"] is False
    later = [
        e
        for e in out.events
        if e["resource_id"] == disable["resource_id"] and e["timestamp"] > disable["timestamp"]
    ]
    assert later == []
    # Benign disables are re-enabled the same day: the rule has something to tell apart.
    benign = [e for e in out.events if e["event_action"] == "disable_alert" and e is not disable]
    assert benign
    enables = {
        (e["resource_id"], e["user_id"]) for e in out.events if e["event_action"] == "enable_alert"
    }
    assert all((e["resource_id"], e["user_id"]) in enables for e in benign)


def test_large_export(out: Output) -> None:
    _, events = _label(out, "large_export")
    (export,) = events
    assert export["event_action"] == "export" and export["details"]["record_count"] > 10_000
    others = [e for e in out.events if e["event_action"] == "export" and e is not export]
    assert others and all(e["details"]["record_count"] <= 10_000 for e in others)


def test_privilege_escalation_then_sensitive_access(out: Output) -> None:
    label, events = _label(out, "privilege_escalation")
    change = events[0]
    assert change["event_action"] == "change_role"
    assert change["resource_id"] == label["user_id"] != change["user_id"]
    assert change["details"]["new_values"]["role"] == "admin"
    after = events[1:]
    assert after and all(e["user_id"] == label["user_id"] for e in after)
    assert {
        e["resource_id"] for e in after if e["event_type"] == "log_access"
    } & RESTRICTED_SOURCE_IDS
    # No benign role change ever grants admin.
    grants = [
        e
        for e in out.events
        if e["event_action"] == "change_role" and e["details"]["new_values"]["role"] == "admin"
    ]
    assert grants == [change]


def test_new_country_and_device(out: Output) -> None:
    label, events = _label(out, "new_country_device")
    logins = [e for e in events if e["event_action"] == "login"]
    assert logins
    ip, ua = logins[0]["ip_address"], logins[0]["user_agent"]
    others = _others(out, label)
    assert ip not in {e["ip_address"] for e in others}
    assert ua not in {e["user_agent"] for e in others}
    own_countries = {e["details"]["geo"]["country"] for e in others if e["event_action"] == "login"}
    assert logins[0]["details"]["geo"]["country"] not in own_countries


def test_dormant_account_wakes_up(out: Output) -> None:
    label, events = _label(out, "dormant_account")
    first = min(_t(e["timestamp"]) for e in events)
    before = [e for e in _others(out, label) if _t(e["timestamp"]) < first]
    assert before, "the account was used at first"
    assert first - max(_t(e["timestamp"]) for e in before) >= timedelta(days=14)
    assert not [e for e in _others(out, label) if _t(e["timestamp"]) > first]


def test_low_and_slow_exfiltration(out: Output) -> None:
    label, events = _label(out, "low_and_slow")
    assert _t(label["end"]) - _t(label["start"]) >= timedelta(days=14)
    assert len({e["timestamp"][:10] for e in events}) >= 8
    assert all(e["event_action"] in ("export", "download") for e in events)
    assert all(e["details"]["record_count"] < 1_000 for e in events)
    assert all(e["resource_id"] == "source_customer_data" for e in events)


def test_api_key_used_from_unknown_ip(out: Output) -> None:
    label, events = _label(out, "api_key_unknown_ip")
    create = events[0]
    assert create["event_action"] == "create_api_key"
    uses = [e for e in events if e["details"].get("api_key_id") == create["resource_id"]]
    assert uses and all(e["timestamp"] > create["timestamp"] for e in uses)
    assert any(e["event_type"] == "api_call" for e in uses)
    unknown = {e["ip_address"] for e in uses}
    assert unknown.isdisjoint(
        {e["ip_address"] for e in out.events if e["id"] not in set(label["event_ids"])}
    )


def test_retention_lowered_before_purge(out: Output) -> None:
    _, events = _label(out, "retention_before_purge")
    actions = [e["event_action"] for e in events]
    assert actions[:2] == ["update_retention_policy", "retention_purge"]
    lowered = events[0]["details"]
    assert lowered["new_values"]["retention_days"] < lowered["old_values"]["retention_days"]
    assert _t(events[1]["timestamp"]) - _t(events[0]["timestamp"]) < timedelta(hours=2)
    # Routine purges are not preceded by a lowered retention on the same day.
    routine = [e for e in out.events if e["event_action"] == "retention_purge" and e not in events]
    assert routine
    for purge in routine:
        day = purge["timestamp"][:10]
        assert not [
            e
            for e in out.events
            if e["event_action"] == "update_retention_policy"
            and e["timestamp"][:10] == day
            and e["user_id"] == purge["user_id"]
            and e["details"]["new_values"]["retention_days"] < 30
        ]


def test_peer_unusual_source(out: Output) -> None:
    label, events = _label(out, "peer_unusual_source")
    roster = {u["user_id"]: u for u in out.labels["roster"]}
    role = roster[label["user_id"]]["role"]
    sources = {e["resource_id"] for e in events if e["event_type"] == "log_access"}
    assert len(sources) == 1 and sources <= RESTRICTED_SOURCE_IDS
    labelled = {i for s in out.labels["scenarios"] for i in s["event_ids"]}
    peers = [
        e
        for e in out.events
        if e["id"] not in labelled
        and e["resource_id"] in sources
        and roster.get(e["user_id"], {}).get("role") == role
    ]
    assert peers == []
