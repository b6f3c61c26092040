"""The per-year rollups answer ranges that cross a new year, start or end mid-year and
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
from tests.sql.read_model_reference import PERSON_SQL, USER_ID_SQL

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
            event_action=rng.choice(["search", "view_logs", "export"]),
            ip_address=rng.choice(["10.0.0.1", "10.0.0.2", "2001:db8::1", None]),
            details=rng.choice([{}, {"results_count": rng.randint(0, 99)}, {"recordCount": 7}]),
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
            f"SELECT count(DISTINCT {PERSON_SQL}) FROM org_audit_events"
            " WHERE event_time >= :s AND event_time < :e",
            start,
            end,
        )[0][0]
        assert model.totals("org_a", start, end)["users"] == users, (start, end)
        top = _raw(
            db,
            f"SELECT {USER_ID_SQL}, max(user_email), count(*) FROM org_audit_events"
            " WHERE event_time >= :s AND event_time < :e"
            " GROUP BY 1 ORDER BY 3 DESC, 1 NULLS LAST LIMIT 3",
            start,
            end,
        )
        got = model.top_users("org_a", start, end, n=3)
        assert _plain(got) == [tuple(r) for r in top], (start, end)
        resources = _raw(
            db,
            f"SELECT resource_type, resource_id, count(*), count(DISTINCT {PERSON_SQL})"
            " FROM org_audit_events WHERE event_time >= :s AND event_time < :e"
            " AND resource_id IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1 NULLS FIRST, 2",
            start,
            end,
        )
        got = model.top_resources("org_a", start, end, n=10)
        assert _plain(got) == [tuple(r) for r in resources], (start, end)
        if start.hour == 0 and end.hour == 0:
            _assert_details_equal_raw(db, model, start, end)


def _assert_details_equal_raw(db: Database, model: ReadModel, start: datetime, end: datetime):
    """The compliance report's additions (their year day-sets) over whole days, as the raw
    aggregation the printable report used to run."""
    where = (
        "event_time >= :s AND event_time < :e AND resource_id = 'r1' AND resource_type = 'source'"
    )
    got = model.resource_details(
        "org_a", start.date(), (end - timedelta(days=1)).date(), "r1", "source"
    )
    by_action = _raw(
        db,
        f"SELECT event_type, event_action, count(*) FROM org_audit_events WHERE {where}"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        start,
        end,
    )
    assert _plain(got.by_action) == [tuple(r) for r in by_action]
    by_user = _raw(
        db,
        "SELECT user_id, string_agg(DISTINCT event_action, ', ' ORDER BY event_action),"
        " coalesce(sum(auditlens_records_touched(details)), 0),"
        f" string_agg(DISTINCT host(ip_address), ', ') FROM org_audit_events WHERE {where}"
        " GROUP BY 1 ORDER BY 1 NULLS LAST",
        start,
        end,
    )
    mine = sorted(_plain(got.by_user), key=lambda r: (r[0] is None, r[0] or ""))
    assert mine == [tuple(r) for r in by_user] and mine
    ((records, ips),) = _raw(
        db,
        "SELECT coalesce(sum(auditlens_records_touched(details)), 0),"
        f" count(DISTINCT ip_address) FROM org_audit_events WHERE {where}",
        start,
        end,
    )
    assert (got.records, got.ip_addresses) == (records, ips) and ips > 0
