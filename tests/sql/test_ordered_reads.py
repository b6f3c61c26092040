"""The first events in time order read window by window (TimescaleDB with compression) are
exactly the single ordered read's, on every flavour: ties at a window's edge, both directions,
limits past the events there are, and never another organisation's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sql.gateway import Database
from sql.ordered_reads import FIRST_WINDOW, first_by_time
from tests.sql.chunk_helpers import login, store

START = datetime(2025, 2, 3, tzinfo=UTC)
END = START + timedelta(days=40)
WHERE = "resource_id = :rid"


@pytest.fixture
def spread(db: Database) -> Database:
    """org_a's events of one resource over forty days, thinning out (so the windows grow),
    five at the instant one window ends and the next begins, and org_b's in between."""
    edge = START + FIRST_WINDOW
    times = [START + timedelta(minutes=7 * i) for i in range(6)]
    times += [edge] * 5 + [START + timedelta(days=d, hours=3) for d in (1, 2, 5, 11, 23, 39)]
    rows = [login(f"a_{i:03d}", event_time=t, resource_id="r1") for i, t in enumerate(times)]
    rows += [login("a_other", event_time=edge, resource_id="r2")]
    rows += [
        login(f"b_{i:03d}", organization_id="org_b", event_time=t, resource_id="r1")
        for i, t in enumerate(times)
    ]
    store(db, rows)
    return db


def _single(db: Database, limit: int, newest_first: bool) -> list[tuple]:
    way = " DESC" if newest_first else ""
    with db.org_session("org_a") as s:
        return s.execute(
            "SELECT id, event_time FROM org_audit_events WHERE resource_id = 'r1'"
            " AND event_time >= :s AND event_time < :e"
            f" ORDER BY event_time{way}, id{way} LIMIT :n",
            {"s": START, "e": END, "n": limit},
        ).rows


@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest first", "newest first"])
@pytest.mark.parametrize("limit", [1, 7, 9, 14, 50])
def test_windowed_reads_equal_the_single_ordered_read(spread, limit: int, newest_first: bool):
    db = spread
    with db.org_session("org_a", snapshot=True) as s:
        got = first_by_time(
            s,
            db,
            "id, event_time",
            WHERE,
            {"rid": "r1"},
            start=START,
            end=END,
            limit=limit,
            newest_first=newest_first,
        )
    assert got.columns == ["id", "event_time"]
    assert got.rows == _single(db, limit, newest_first)
    assert all(str(i).startswith("a_") for i, _ in got.rows)


def test_an_empty_range_reads_nothing(spread):
    db = spread
    with db.org_session("org_a", snapshot=True) as s:
        got = first_by_time(s, db, "id", WHERE, {"rid": "r1"}, start=END, end=END, limit=5)
    assert got.rows == []


@pytest.mark.parametrize(
    ("bad", "named"),
    [({"limit": 0}, "limit"), ({"limit": 3, "tiebreaker": "id; DROP TABLE x"}, "tiebreaker")],
)
def test_bad_arguments_are_refused(db: Database, bad: dict, named: str):
    with db.org_session("org_a") as s, pytest.raises(ValueError, match=named):
        first_by_time(s, db, "id", "true", {}, start=START, end=END, **bad)


def _batch(conn, limit: int = 100) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            text("SELECT id FROM auditlens_events_after(CAST('0' AS xid8), 0, :n)"), {"n": limit}
        )
    ]


def test_a_streaming_batch_reads_only_the_sessions_organisation(spread):
    """auditlens_events_after reads as the owner with the view's guard: the session's
    organisation's events in ingest order, none without an organisation, and a reader's own
    temporary table named audit_events is not what it reads."""
    db = spread
    with db.org_session("org_a") as s:
        ids = _batch(s.conn)
        assert _batch(s.conn, 3) == ids[:3]
    assert ids and all(i.startswith("a_") for i in ids)
    with db.org_session("org_b") as s:
        assert {i[:2] for i in _batch(s.conn)} == {"b_"}
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_reader"))
        assert _batch(conn) == []  # no organisation set: nothing
        conn.execute(text("SELECT set_config('auditlens.organization_id', 'org_a', false)"))
        conn.execute(text("CREATE TEMP TABLE audit_events AS SELECT * FROM org_audit_events"))
        conn.execute(text("UPDATE pg_temp.audit_events SET id = 'planted'"))
        assert "planted" not in _batch(conn)
        conn.rollback()
