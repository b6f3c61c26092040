"""The coarse rollup tiers (hourly families, monthly totals ranked by count, day gaps) give the
answers raw events give: sparse activity over three months, late events that fill gaps between
active days, events past the watermark, duplicates, two organisations; top-N ranked from a
handful of candidates per month (or by the exhaustive ranking when the bound does not prove
them)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import sql.read_model.ranking as ranking
from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from tests.factories import event_row
from tests.sql.conftest import kept_unchanged
from tests.sql.read_model_reference import PERSON_SQL, USER_ID_SQL

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 95  # January to early April: four months
USERS = [f"u{i}" for i in range(12)] + [None]
RESOURCES = [("source", f"s{i}") for i in range(8)] + [(None, "bare"), ("alert", "s1")]
TIER_TABLES = (
    "rollup_hour_families",
    "rollup_user_months",
    "rollup_resource_months",
    "rollup_user_day_gaps",
    "rollup_resource_day_gaps",
)


def _rows(rng: random.Random, n: int, prefix: str, days: list[int]) -> list[tuple[object, ...]]:
    rows = []
    for i in range(n):
        # Skewed activity: a few busy users and resources, most of them sparse.
        user = USERS[min(int(rng.expovariate(0.35)), len(USERS) - 1)]
        rtype, rid = RESOURCES[min(int(rng.expovariate(0.4)), len(RESOURCES) - 1)]
        rows.append(
            event_row(
                id=f"{prefix}{i}",
                organization_id=rng.choice(["org_a", "org_a", "org_b"]),
                event_time=T0 + timedelta(days=rng.choice(days), hours=rng.uniform(0, 24)),
                event_type=rng.choice(["login", "log_access", "api_call"]),
                event_action=rng.choice(["search", "login", "GET"]),
                user_id=user,
                resource_type=rtype,
                resource_id=rng.choice([rid, rid, None]),
            )
        )
    return rows


def _load(db: Database) -> None:
    rng = random.Random(11)
    model = ReadModel(db)
    # Activity on every third day first; later batches fill some of the gaps in between
    # (late events), re-send duplicates, and stay past the watermark.
    first = _rows(rng, 500, "a", list(range(0, DAYS, 3)))
    with db.writer() as w:
        insert_events(w, first)
    model.refresh()
    late = _rows(rng, 200, "b", list(range(1, DAYS, 7)))
    with db.writer() as w:
        insert_events(w, late + first[:40])
    model.refresh()
    with db.writer() as w:
        insert_events(w, _rows(rng, 80, "c", list(range(2, DAYS, 11))) + late[:10])


def _raw(db: Database, org: str, sql: str, start: datetime, end: datetime) -> list[tuple]:
    with db.org_session(org) as session:
        return [tuple(r) for r in session.execute(sql, {"s": start, "e": end}).rows]


def _plain(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return [
        tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
        for row in frame.itertuples(index=False)
    ]


def _ranges(rng: random.Random) -> list[tuple[datetime, datetime]]:
    ranges = [(T0, T0 + timedelta(days=DAYS)), (T0 + timedelta(days=31), T0 + timedelta(days=59))]
    for _ in range(12):
        a = rng.uniform(0, DAYS)
        b = rng.uniform(a, DAYS + 1)
        whole = rng.random() < 0.5  # whole days, or arbitrary times
        start = T0 + timedelta(days=int(a) if whole else a)
        end = T0 + timedelta(days=int(b) if whole else b)
        ranges.append((start, end))
    return ranges


def _check(db: Database, ranges: list[tuple[datetime, datetime]]) -> None:
    model = ReadModel(db)
    for org in ("org_a", "org_b", "org_none"):
        for start, end in ranges:
            users, resources = _raw(
                db,
                org,
                f"SELECT count(DISTINCT {PERSON_SQL}), count(DISTINCT (resource_type, resource_id))"
                " FILTER (WHERE resource_id IS NOT NULL) FROM org_audit_events"
                " WHERE event_time >= :s AND event_time < :e",
                start,
                end,
            )[0]
            totals = model.totals(org, start, end)
            assert (totals["users"], totals["resources"]) == (users, resources), (start, end)
            for n in (1, 3, 5):
                top = _raw(
                    db,
                    org,
                    f"SELECT {USER_ID_SQL}, max(user_email), count(*) FROM org_audit_events"
                    " WHERE event_time >= :s AND event_time < :e"
                    f" GROUP BY 1 ORDER BY 3 DESC, 1 NULLS LAST LIMIT {n}",
                    start,
                    end,
                )
                assert _plain(model.top_users(org, start, end, n=n)) == top, (start, end, n)
                top = _raw(
                    db,
                    org,
                    f"SELECT resource_type, resource_id, count(*), count(DISTINCT {PERSON_SQL})"
                    " FROM org_audit_events WHERE event_time >= :s AND event_time < :e"
                    " AND resource_id IS NOT NULL"
                    f" GROUP BY 1, 2 ORDER BY 3 DESC, 1 NULLS FIRST, 2 LIMIT {n}",
                    start,
                    end,
                )
                assert _plain(model.top_resources(org, start, end, n=n)) == top, (start, end, n)
            hourly = _raw(
                db,
                org,
                "SELECT date_trunc('hour', event_time, 'UTC'), event_type, count(*)"
                " FROM org_audit_events WHERE event_time >= :s AND event_time < :e"
                " GROUP BY 1, 2 ORDER BY 1, 2",
                start,
                end,
            )
            got = model.timeline(org, start, end, bucket="hour", by_action=False)
            assert list(got.columns) == ["bucket", "event_type", "events"]
            assert [(b.to_pydatetime(), t, e) for b, t, e in _plain(got)] == hourly


@pytest.fixture(scope="module")
def tiers_loaded(module_db: Database) -> Iterator[Database]:
    """`_load`'s data in one database the depth tests share: they only read it."""
    _load(module_db)
    with kept_unchanged(module_db):
        yield module_db


@pytest.mark.parametrize("depth", [(1, 0), (2, 1), (100, 10)])
def test_tiers_equal_raw_whatever_the_ranking_depth(
    tiers_loaded: Database, monkeypatch: pytest.MonkeyPatch, depth: tuple[int, int]
):
    # Depth 1 or 2 per month: the bound often fails and the exhaustive ranking answers; when
    # it holds, the few candidates must still give the exact top n.
    monkeypatch.setattr(ranking, "RANK_DEPTH_MIN", depth[0])
    monkeypatch.setattr(ranking, "RANK_DEPTH_PER_ROW", depth[1])
    _check(tiers_loaded, _ranges(random.Random(depth[0])))


def test_tiers_after_everything_is_rolled_up_and_after_a_rebuild(db: Database):
    _load(db)
    model = ReadModel(db)
    model.refresh()
    ranges = _ranges(random.Random(5))
    _check(db, ranges)
    before = _snapshot(db)
    model.refresh(rebuild=True)
    assert _snapshot(db) == before
    _check(db, ranges)


def _snapshot(db: Database) -> dict[str, list[tuple[str, ...]]]:
    with db.admin() as session:
        return {
            t: sorted(tuple(str(v) for v in r) for r in session.execute(f"SELECT * FROM {t}").rows)
            for t in TIER_TABLES
        }
