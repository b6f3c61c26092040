"""A small known data set for the page tests: two organisations, a few users, one resource
everyone reads, and figures the pages must show exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from detection.findings import DetectionRun, Finding, save_findings
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row

FIRST_DAY = date(2025, 1, 13)  # a Monday
LAST_DAY = date(2025, 1, 16)
WED = datetime(2025, 1, 15, tzinfo=UTC)


def _at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def known_rows() -> list[tuple[Any, ...]]:
    """org_a: john searches payment-logs 5x Wed 14h and exports twice Wed 02h; sarah changes
    an alert 3x Tue 16h. org_b: mallory reads org-b-secret 7x."""
    rows = [
        event_row(
            event_time=_at(WED, 14, i),
            user_id="u_john",
            user_email="john@company.com",
            event_type="log_access",
            event_action="search",
            resource_type="source",
            resource_id="payment-logs",
            details={"query": f"transaction_id:txn_{i}", "results_count": 47},
            ip_address="192.168.1.100",
        )
        for i in range(5)
    ]
    rows += [
        event_row(
            event_time=_at(WED, 2, i),
            user_id="u_john",
            user_email="john@company.com",
            event_type="data_modification",
            event_action="export",
            resource_type="source",
            resource_id="payment-logs",
            details={"recordCount": 1247, "format": "csv"},
            ip_address="10.0.0.9",
        )
        for i in range(2)
    ]
    rows += [
        event_row(
            event_time=_at(WED - timedelta(days=1), 16, 45 + i),
            user_id="u_sarah",
            user_email="sarah@company.com",
            event_type="config_change",
            event_action="update_alert",
            resource_type="alert_rule",
            resource_id="high-error-rate",
            details={"changes": {"threshold": {"old": 100 + i, "new": 200 + i}}},
        )
        for i in range(3)
    ]
    rows += [
        event_row(
            organization_id="org_b",
            event_time=_at(WED, 9, i),
            user_id="u_mallory",
            user_email="mallory@org-b.com",
            event_type="log_access",
            event_action="view_logs",
            resource_type="source",
            resource_id="org-b-secret",
        )
        for i in range(7)
    ]
    return rows


def seed(db: Database) -> None:
    with db.writer() as session:
        insert_events(session, known_rows())


FINDINGS_DAY = WED.date()


def _finding(
    user_id: str, email: str, score: float, severity: str, title: str, query: str
) -> Finding:
    return Finding(
        user_id=user_id,
        user_email=email,
        day=FINDINGS_DAY,
        window_start=WED,
        window_end=WED + timedelta(days=1),
        score=score,
        severity=severity,
        detectors=["large_export", "model"],
        title=title,
        explanation=f"{title}: far above the usual",
        evidence_query=query,
    )


def seed_findings(db: Database) -> None:
    """The known data and findings on it: org_a's two (john's export first), org_b's one."""
    seed(db)
    run = DetectionRun(FINDINGS_DAY, FINDINGS_DAY, "test", ["large_export"], None, {}, {}, 3)
    save_findings(
        db,
        "org_a",
        run,
        [
            _finding(
                "u_sarah", "sarah@company.com", 0.41, "medium", "Config burst", "user:u_sarah"
            ),
            _finding(
                "u_john",
                "john@company.com",
                0.93,
                "high",
                "Export at 2 a.m.",
                "user:u_john action:export created:2025-01-15..2025-01-15",
            ),
        ],
    )
    save_findings(
        db,
        "org_b",
        run,
        [_finding("u_mallory", "mallory@org-b.com", 0.99, "critical", "Org B secret", "x")],
    )


EXPLORE_T0 = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)


def explore_rows() -> list[tuple[Any, ...]]:
    """Explore's data set. org_a: 120 searches by ann (session s_ann), 7 config changes by
    bob, 1 export by eve from 10.9.8.7; org_b: 30 events of mallory."""
    rows = [
        event_row(
            organization_id="org_a",
            id=f"a{i:03d}",
            user_id="u_ann",
            user_email="ann@company.com",
            event_time=EXPLORE_T0 + timedelta(minutes=i),
            session_id="s_ann",
            ip_address="192.168.1.10",
            details={"query": f"level:error n={i}", "results_count": i},
        )
        for i in range(120)
    ]
    rows += [
        event_row(
            organization_id="org_a",
            id=f"c{i}",
            user_id="u_bob",
            user_email="bob@company.com",
            event_type="config_change",
            event_action="update_alert",
            resource_type="alert",
            resource_id="high-errors",
            event_time=EXPLORE_T0 + timedelta(days=1, hours=i),
            session_id="s_bob",
            details={"old_values": {"threshold": 100}, "new_values": {"threshold": 200}},
        )
        for i in range(7)
    ]
    rows.append(
        event_row(
            organization_id="org_a",
            id="x1",
            user_id="u_eve",
            user_email="eve@company.com",
            event_type="data_modification",
            event_action="export",
            ip_address="10.9.8.7",
            resource_id="payment-logs",
            event_time=EXPLORE_T0 + timedelta(days=2),
            details={"records": 1247, "note": "=cmd|'/C calc'!A0"},
        )
    )
    rows += [
        event_row(
            organization_id="org_b",
            id=f"b{i}",
            user_id="u_mal",
            user_email="mallory@other.com",
            event_time=EXPLORE_T0 + timedelta(minutes=i),
            session_id="s_ann",
            resource_id="payment-logs",
        )
        for i in range(30)
    ]
    return rows
