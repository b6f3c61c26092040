"""A small known data set for the page tests: two organisations, a few users, one resource
everyone reads, and figures the pages must show exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

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
