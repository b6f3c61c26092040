"""The detection tests' in-memory read model (tests/detection/frames.py) counts distinct
resources, IPs and user agents as the real read model does: a resource is its type and id
together, so one id under two types is two resources."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from sql.event_store import insert_events
from sql.read_model import ReadModel
from sql.rollup.refresh import refresh
from tests.detection.frames import FrameReadModel
from tests.factories import event_row

DAY = date(2025, 2, 3)
DISTINCT = ["distinct_resources", "distinct_ips", "distinct_user_agents"]


def _events() -> list[dict[str, object]]:
    at = datetime(DAY.year, DAY.month, DAY.day, 10, tzinfo=UTC)
    shapes = [
        # One id under two types, and with no type: three resources.
        ("ann", "source", "payments", "10.0.0.1", "A"),
        ("ann", "alert_rule", "payments", "10.0.0.1", "A"),
        ("ann", None, "payments", None, None),
        ("ann", "source", "payments", "10.0.0.2", "B"),
        # No resource: counts no resource, its address still counts.
        ("ann", None, None, "10.0.0.3", "A"),
        ("bob", "source", "payments", "10.0.0.1", "A"),
        ("bob", "source", "auth", "10.0.0.1", "A"),
    ]
    return [
        {
            "organization_id": "org_a",
            "id": f"f{n}",
            "event_time": at + timedelta(minutes=n),
            "event_type": "log_access",
            "event_action": "search",
            "user_id": user,
            "user_email": f"{user}@x.com",
            "ip_address": ip,
            "user_agent": agent,
            "resource_type": rtype,
            "resource_id": rid,
            "details": {},
            "session_id": None,
        }
        for n, (user, rtype, rid, ip, agent) in enumerate(shapes)
    ]


def _distinct(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    rows = frame[["day", "user_id", *DISTINCT]].sort_values("user_id")
    return [tuple(int(v) if k in DISTINCT else v for k, v in r.items()) for _, r in
            rows.iterrows()]  # fmt: skip


def test_the_frame_double_counts_what_the_read_model_counts(db):
    events = _events()
    with db.writer() as w:
        insert_events(w, [event_row(**e) for e in events])
    refresh(db)
    real = ReadModel(db)
    double = FrameReadModel(pd.DataFrame(events))
    got = _distinct(double.user_day_features("org_a", DAY, DAY))
    assert got == _distinct(real.user_day_features("org_a", DAY, DAY))
    assert got[0] == (DAY, "ann", 3, 3, 2)
    assert _distinct(double.user_day_distinct_counts("org_a", DAY, DAY)) == _distinct(
        real.user_day_distinct_counts("org_a", DAY, DAY)
    )
