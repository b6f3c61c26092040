"""The per-year rollups (0024) answer ranges that cross a new year, start or end mid-year and
leave out days, exactly as raw events do: users counted and ranked, resources' users."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pandas as pd

from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from tests.factories import event_row

T0 = datetime(2024, 12, 28, tzinfo=UTC)  # 2024 is a leap year: day 365 exists
USERS = ["u1", "u2", "u3", "u4", None]


def _rows(rng: random.Random, n: int, prefix: str) -> list[tuple[object, ...]]:
    return [
        event_row(
            id=f"{prefix}{i}",
            event_time=T0 + timedelta(hours=rng.uniform(0, 24 * 9)),
            user_id=rng.choice(USERS),
            user_email=rng.choice(["a@x.com", "b@x.com", None]),
            resource_type=rng.choice(["source", "alert"]),
            resource_id=rng.choice(["r1", "r2", "r3", None]),
        )
        for i in range(n)
    ]


def _plain(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return [
        tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
        for row in frame.itertuples(index=False)
    ]


def _raw(db: Database, sql: str, start: datetime, end: datetime) -> list[tuple[object, ...]]:
    with db.org_session("org_a") as session:
        return session.execute(sql, {"s": start, "e": end}).rows


def test_year_rollups_equal_raw_over_ranges_across_new_year(db: Database):
    rng = random.Random(3)
    model = ReadModel(db)
    with db.writer() as w:
        insert_events(w, _rows(rng, 300, "a"))
    model.refresh()
    with db.writer() as w:
        insert_events(w, _rows(rng, 60, "b"))  # past the watermark
    ranges = [
        (T0, T0 + timedelta(days=9)),
        (T0 + timedelta(days=3), T0 + timedelta(days=5)),  # Dec 31 .. Jan 2
        (T0 + timedelta(days=3, hours=7), T0 + timedelta(days=4, hours=2)),
        (T0 + timedelta(days=4), T0 + timedelta(days=6)),  # 2025 only
        (T0 + timedelta(days=1), T0 + timedelta(days=3)),  # 2024 only, up to day 365
    ]
    for start, end in ranges:
        users = _raw(
            db,
            "SELECT count(DISTINCT user_id) FROM org_audit_events"
            " WHERE event_time >= :s AND event_time < :e",
            start,
            end,
        )[0][0]
        assert model.totals("org_a", start, end)["users"] == users, (start, end)
        top = _raw(
            db,
            "SELECT user_id, max(user_email), count(*) FROM org_audit_events"
            " WHERE event_time >= :s AND event_time < :e"
            " GROUP BY 1 ORDER BY 3 DESC, 1 NULLS LAST LIMIT 3",
            start,
            end,
        )
        got = model.top_users("org_a", start, end, n=3)
        assert _plain(got) == [tuple(r) for r in top], (start, end)
        resources = _raw(
            db,
            "SELECT resource_type, resource_id, count(*), count(DISTINCT user_id)"
            " FROM org_audit_events WHERE event_time >= :s AND event_time < :e"
            " AND resource_id IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1 NULLS FIRST, 2",
            start,
            end,
        )
        got = model.top_resources("org_a", start, end, n=10)
        assert _plain(got) == [tuple(r) for r in resources], (start, end)
