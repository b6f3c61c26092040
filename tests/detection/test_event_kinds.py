"""Event-level rule kinds (sequence, absence, pattern, off-hours) on hand-made events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from detection.events import FrameEvents, Slice
from detection.features import Sensitivity
from detection.rules import RuleContext, evaluate_rule, load_rules
from detection.rules.kinds.events import hours_from_usual
from detection.rules.kinds.features import _first_seen_values

DAY = date(2025, 3, 10)


def _event(n: int, when: datetime, user: str, family: str, action: str, **extra) -> dict:
    row = {
        "id": f"e{n}",
        "event_time": when,
        "event_type": family,
        "event_action": action,
        "user_id": user,
        "user_email": f"{user}@company.com",
        "ip_address": "10.0.0.1",
        "user_agent": "Mozilla/5.0",
        "resource_type": "source",
        "resource_id": "source_app_logs",
        "details": {},
        "session_id": None,
    }
    row.update(extra)
    return row


def _context(rows: list[dict], *, start: date = DAY, end: date = DAY, **extra) -> RuleContext:
    events = pd.DataFrame(rows)
    resources = pd.DataFrame(
        {
            "first_day": [DAY - timedelta(days=1)],
            "user_id": ["someone"],
            "resource_type": ["source"],
            "resource_id": ["source_payment_logs"],
            "events": [1],
        }
    )
    ips = pd.DataFrame(
        {
            "first_day": [DAY - timedelta(days=3)],
            "user_id": ["dev"],
            "ip_address": ["10.0.0.1"],
            "user_agent": ["Mozilla/5.0"],
        }
    )
    return RuleContext(
        org="org_a",
        features=pd.DataFrame(columns=["day", "user_id"]),
        start_day=start,
        end_day=end,
        events=FrameEvents(events),
        sensitivity=Sensitivity(resource_ids=frozenset({"source_payment_logs"})),
        ips=ips,
        resources=resources,
        **extra,
    )


RULES = {r.id: r for r in load_rules()}


def _at(hour: float, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)


def test_privilege_escalation_needs_a_raise_to_admin_then_sensitive_access_by_the_target():
    raised = {"old_values": {"role": "member"}, "new_values": {"role": "admin"}}
    lowered = {"old_values": {"role": "member"}, "new_values": {"role": "viewer"}}
    rows = [
        _event(
            1,
            _at(10),
            "admin1",
            "user_management",
            "change_role",
            resource_type="user",
            resource_id="dev",
            details=raised,
        ),
        _event(2, _at(11), "dev", "log_access", "search", resource_id="source_payment_logs"),
        _event(
            3,
            _at(10),
            "admin1",
            "user_management",
            "change_role",
            resource_type="user",
            resource_id="sup",
            details=lowered,
        ),
        _event(4, _at(12), "sup", "log_access", "search", resource_id="source_payment_logs"),
        _event(5, _at(12), "dev", "log_access", "search", resource_id="source_app_logs"),
    ]
    hits = evaluate_rule(RULES["privilege-change-then-sensitive-access"], _context(rows))
    assert [(h.user_id, h.severity) for h in hits] == [("dev", "critical")]
    assert "change_role" in hits[0].reason and "source_payment_logs" in hits[0].reason
    assert hits[0].window_start == _at(10) and "user:dev" in hits[0].evidence_query


def test_alert_disabled_fires_only_when_not_re_enabled_in_time():
    rows = [
        _event(
            1,
            _at(16, DAY - timedelta(days=5)),
            "sre",
            "config_change",
            "disable_alert",
            resource_type="alert_rule",
            resource_id="alert_1",
        ),
        _event(
            2,
            _at(9, DAY - timedelta(days=5)),
            "sre",
            "config_change",
            "disable_alert",
            resource_type="alert_rule",
            resource_id="alert_2",
        ),
        _event(
            3,
            _at(11, DAY - timedelta(days=5)),
            "sre",
            "config_change",
            "enable_alert",
            resource_type="alert_rule",
            resource_id="alert_2",
        ),
    ]
    hits = evaluate_rule(
        RULES["alert-disabled-not-reenabled"],
        _context(rows, start=DAY - timedelta(days=3), end=DAY),
    )
    assert len(hits) == 1 and "resource:alert_1" in hits[0].evidence_query.split()
    assert "not followed by enable_alert within 3.0 days" in hits[0].reason


def test_retention_lowered_then_purged_compares_old_and_new_values():
    lowered = {"old_values": {"retention_days": 365}, "new_values": {"retention_days": 1}}
    raised = {"old_values": {"retention_days": 30}, "new_values": {"retention_days": 90}}
    rows = [
        _event(1, _at(18), "adm", "config_change", "update_retention_policy", details=lowered),
        _event(2, _at(18.5), "adm", "data_modification", "retention_purge"),
        _event(3, _at(8), "adm2", "config_change", "update_retention_policy", details=raised),
    ]
    hits = evaluate_rule(RULES["retention-lowered-before-purge"], _context(rows))
    assert len(hits) == 1 and hits[0].reason.startswith("update_retention_policy at")
    only_raised = [rows[2], _event(4, _at(9), "adm2", "data_modification", "retention_purge")]
    assert evaluate_rule(RULES["retention-lowered-before-purge"], _context(only_raised)) == []


class _Recording(FrameEvents):
    """FrameEvents that keeps every slice asked for."""

    def __init__(self, events: pd.DataFrame) -> None:
        super().__init__(events)
        self.asked: list[Slice] = []

    def fetch(self, wanted: Slice) -> pd.DataFrame:
        self.asked.append(wanted)
        return super().fetch(wanted)


def test_a_sequence_reads_only_the_then_events_its_first_events_link_to():
    # Thousands of users read sensitive sources every fortnight; one had a role raised.
    raised = {"old_values": {"role": "member"}, "new_values": {"role": "admin"}}
    rows = [
        _event(1, _at(10), "admin1", "user_management", "change_role", resource_type="user",
               resource_id="dev", details=raised),
        _event(2, _at(11), "dev", "log_access", "search", resource_id="source_payment_logs"),
        *(
            _event(10 + n, _at(12), f"user{n}", "log_access", "search",
                   resource_id="source_payment_logs")
            for n in range(20)
        ),
    ]  # fmt: skip
    context = _context(rows)
    recording = _Recording(pd.DataFrame(rows))
    context.events = recording
    hits = evaluate_rule(RULES["privilege-change-then-sensitive-access"], context)
    assert [h.user_id for h in hits] == ["dev"]
    first, then = recording.asked
    assert first.user_ids is None and then.user_ids == ("dev",)
    assert then.resource_ids == ("source_payment_logs",)


def test_api_key_used_from_a_new_ip_but_not_from_a_known_one():
    rows = [
        _event(1, _at(9), "dev", "user_management", "create_api_key"),
        _event(2, _at(20), "dev", "log_access", "api_access", ip_address="10.0.0.1"),
        _event(3, _at(21), "dev", "log_access", "api_access", ip_address="203.0.113.9"),
    ]
    hits = evaluate_rule(RULES["api-key-new-ip"], _context(rows))
    assert len(hits) == 1 and "203.0.113.9" in hits[0].reason


def test_identity_wildcard_search_pattern_and_its_negatives():
    queries = [
        "email:*@company.com",
        "user_email:*@company.com AND level:info",
        "level:error AND service:checkout",
        "message:*timeout*",
        "email:john@company.com",
    ]
    rows = [
        _event(i, _at(10 + i), f"u{i}", "log_access", "search", details={"query": q})
        for i, q in enumerate(queries)
    ]
    hits = evaluate_rule(RULES["identity-wildcard-search"], _context(rows))
    assert sorted(h.user_id for h in hits) == ["u0", "u1"]


def test_off_hours_export_uses_the_users_own_hours():
    profile = np.zeros(24)
    profile[13:22] = 1 / 9  # works 13:00-22:00 UTC (e.g. New York)
    rows = [
        _event(1, _at(2.2), "night", "data_modification", "export"),  # 02:12 UTC: far off
        _event(2, _at(21.5), "night", "data_modification", "export"),  # within usual hours
    ]
    context = _context(rows, hour_profiles=lambda users: dict.fromkeys(users, profile))
    hits = evaluate_rule(RULES["off-hours-export"], context)
    assert len(hits) == 1 and "02:12" in hits[0].reason
    assert hours_from_usual(profile, 2) > 6 > hours_from_usual(profile, 22)


def test_peer_first_sources_are_named_in_one_order_whatever_order_the_rollups_come_in():
    # The read model returns user-day resources in no particular order.
    sources = ["source_card_vault", "source_payment_logs", "source_hr_events"]
    resources = pd.DataFrame(
        {
            "first_day": [DAY] * 3,
            "user_id": ["u1"] * 3,
            "resource_type": ["source", "source", None],
            "resource_id": sources,
            "events": [1, 1, 1],
            "peer_group": ["g"] * 3,
        }
    )
    hit_rows = pd.DataFrame({"day": [DAY], "user_id": ["u1"]})
    named = []
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        context = _context([_event(1, _at(10), "u1", "log_access", "search")])
        context.resources = resources.iloc[order].reset_index(drop=True)
        context.sensitivity = Sensitivity(resource_ids=frozenset(sources))
        values = _first_seen_values(context, hit_rows)
        named.append(values[("u1", DAY, "peer_sensitive_resource")])
    assert named[0] == ["source_hr_events", "source_card_vault", "source_payment_logs"]
    assert named[1] == named[0] and named[2] == named[0]
