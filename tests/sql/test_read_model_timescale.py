"""TimescaleDB only: the read model gives the raw answer on hypertables too, late events
included, from the same rollup tables as on plain PostgreSQL, and no continuous aggregate
exists beside them (nothing would read it). Run with AUDITLENS_TEST_DATABASE_URL pointing at
a TimescaleDB server."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from tests.sql import read_model_reference as ref
from tests.sql.read_model_reference import DAYS, START, Generator

pytestmark = pytest.mark.timescaledb

ORGS = ["org_utc", "org_ny"]
RANGES = [
    (START - timedelta(days=1), START + timedelta(days=DAYS + 1)),
    (START + timedelta(days=2, hours=5, minutes=17), START + timedelta(days=9, minutes=3)),
]


def _insert(db: Database, events: list) -> None:
    with db.writer() as w:
        insert_events(w, [e.row() for e in events])


def test_timescale_read_model_equals_raw(db: Database, timescale_only: None):
    gen = Generator(seed=11)
    model = ReadModel(db)
    first = [gen.event(random.Random(i).choice(ORGS), day_from=7) for i in range(300)]
    _insert(db, first)
    model.refresh()
    late = [gen.event(random.Random(i).choice(ORGS), day_to=7) for i in range(200)]
    _insert(db, late + first[:20])  # late events into materialised buckets, and duplicates
    model.refresh()
    recent = [gen.event(random.Random(i).choice(ORGS)) for i in range(100)]
    later = [gen.event(random.Random(i).choice(ORGS), day_to=3) for i in range(50)]
    _insert(db, recent + later)  # not refreshed: raw past the watermark, late ones too
    events = first + late + recent + later
    for org in ORGS:
        for t0, t1 in RANGES:
            assert model.totals(org, t0, t1) == ref.totals(events, org, t0, t1)
            for bucket in ("hour", "day"):
                got = model.timeline(org, t0, t1, bucket=bucket)
                rows = [tuple(r) for r in got.itertuples(index=False)]
                rows = [(b.to_pydatetime(), t, a, n) for b, t, a, n in rows]
                assert rows == ref.timeline(events, org, t0, t1, bucket)
            activity = model.user_activity(org, t0, t1)
            assert len(activity) == len(ref.user_activity(events, org, t0, t1))
            assert int(activity["events"].sum()) == ref.totals(events, org, t0, t1)["events"]
        # The compliance report's additions (their rollup tables, on hypertables' events too).
        d0, d1 = START.date(), START.date() + timedelta(days=DAYS)
        for rtype, rid, any_type in ((None, "payment-logs", True), ("source", "auth-logs", False)):
            got = model.resource_details(org, d0, d1, rid, rtype, any_type=any_type)
            want = ref.resource_details(events, org, d0, d1, rtype, rid, any_type=any_type)
            assert [tuple(r) for r in got.by_action.itertuples(index=False)] == want[0]
            assert (got.records, got.ip_addresses) == (want[2], want[3])


def test_timescale_has_no_continuous_aggregate(db: Database, timescale_only: None):
    """The rollups serve every read; an aggregate beside them would be refreshed for nobody."""
    gen = Generator(seed=5)
    _insert(db, [gen.event(random.Random(i).choice(ORGS)) for i in range(50)])
    ReadModel(db).refresh()
    with db.admin() as session:
        hypertables = session.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
        ).rows
        caggs = session.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates"
        ).rows
    assert [name for (name,) in hypertables] == ["audit_events"]
    assert caggs == []
