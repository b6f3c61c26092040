"""Detection's aggregated reads (`sql.read_model.first_seen`) equal a straightforward pandas
computation over the raw events, on hostile shapes: NULL users and email-only users, a
second organisation with the same user and resource ids (and earlier days), events past the
rollup watermark, late events before the rolled-up days, re-sent duplicates, NULL types, IPs
and agents, and windows that start before, on and after users' first days."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel, ReadModelError
from tests.factories import event_row
from tests.sql.read_model_reference import frame_rows

START = date(2025, 2, 1)
DAYS = 12
USERS = [None, "u1", "u2", "u3", "u4"]
RESOURCES = [
    (None, None),
    ("source", "payment-logs"),
    ("source", "auth-logs"),
    ("alert_rule", "payment-logs"),  # the same id as another type's
    (None, "customer-data"),
]
IPS = [None, "10.0.0.1", "10.0.0.2", "2001:db8::1", "10.1.0.0/16"]
AGENTS = [None, "Mozilla/5.0", "curl/8.0"]
# (first day, last day): the whole range, cut inside users' histories, one day, beyond.
WINDOWS = [
    (START - timedelta(days=3), START + timedelta(days=DAYS + 2)),
    (START + timedelta(days=4), START + timedelta(days=9)),
    (START + timedelta(days=6), START + timedelta(days=6)),
    (START + timedelta(days=DAYS + 5), START + timedelta(days=DAYS + 9)),
]


def _events(rng: random.Random, org: str, n: int, first: int, last: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        day = START + timedelta(days=rng.randint(first, last))
        user = rng.choice(USERS)
        # Email-only events: no user id, an email all the same.
        email = f"{user or 'svc'}@company.com" if rng.random() < 0.8 else None
        rtype, rid = rng.choice(RESOURCES)
        out.append(
            {
                "organization_id": org,
                "id": f"{org}_{rng.getrandbits(64):016x}",
                "event_time": datetime(day.year, day.month, day.day, tzinfo=UTC)
                + timedelta(seconds=rng.randint(0, 86_399)),
                "user_id": user,
                "user_email": email,
                "ip_address": rng.choice(IPS),
                "user_agent": rng.choice(AGENTS),
                "resource_type": rtype,
                "resource_id": rid,
            }
        )
    return out


def _insert(db: Database, events: list[dict[str, Any]]) -> None:
    with db.writer() as w:
        insert_events(w, [event_row(**e) for e in events])


@pytest.fixture(scope="module")
def loaded(module_db: Database) -> tuple[Database, pd.DataFrame]:
    """Rolled-up events; late ones and duplicates, rolled up; a batch past the watermark,
    with first days earlier than any rolled up. org_b has the same ids, earlier."""
    rng = random.Random(16)
    model = ReadModel(module_db)
    first = _events(rng, "org_a", 400, 5, DAYS - 1) + _events(rng, "org_b", 150, 0, DAYS - 1)
    _insert(module_db, first)
    model.refresh()
    late = _events(rng, "org_a", 150, 2, 7)
    _insert(module_db, late + first[:40])
    model.refresh()
    recent = _events(rng, "org_a", 120, 0, DAYS - 1)
    # A user seen only past the watermark, and events of org_b past it too.
    recent += [{**e, "user_id": "u_new"} for e in _events(rng, "org_a", 5, 8, 9)]
    recent += _events(rng, "org_b", 60, 0, 3)
    _insert(module_db, recent + first[40:60])
    frame = pd.DataFrame(first + late + recent).drop_duplicates("id")
    frame["day"] = pd.to_datetime(frame["event_time"], utc=True).dt.date
    return module_db, frame


def _slice(events: pd.DataFrame, org: str, lo: date, hi: date) -> pd.DataFrame:
    return events.loc[(events["organization_id"] == org) & events["day"].between(lo, hi)]


def _rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return sorted(frame_rows(frame), key=repr)


def _pandas_resource_first_days(events: pd.DataFrame) -> pd.DataFrame:
    known = events.loc[events["resource_id"].notna()]
    g = known.groupby(["user_id", "resource_type", "resource_id"], dropna=False)
    return pd.DataFrame({"first_day": g["day"].min(), "events": g.size()}).reset_index()


def _pandas_address_first_days(events: pd.DataFrame) -> pd.DataFrame:
    g = events.groupby(["user_id", "ip_address", "user_agent"], dropna=False)
    return g["day"].min().rename("first_day").reset_index()


def _pandas_distinct_counts(events: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (day, user), group in events.groupby(["day", "user_id"], dropna=False):
        known = group.loc[group["resource_id"].notna()]
        pairs = zip(known["resource_type"], known["resource_id"], strict=True)
        resources = set(pairs)
        rows.append(
            {
                "day": day,
                "user_id": None if pd.isna(user) else user,
                "distinct_resources": len(resources),
                "distinct_ips": group["ip_address"].nunique(),
                "distinct_user_agents": group["user_agent"].nunique(),
            }
        )
    return pd.DataFrame(rows)


def _pandas_events_on(events: pd.DataFrame, resource_ids: list[str]) -> pd.DataFrame:
    chosen = events.loc[events["resource_id"].isin(resource_ids)]
    return chosen.groupby(["day", "user_id"], dropna=False).size().rename("events").reset_index()


@pytest.mark.parametrize("org", ["org_a", "org_b", "org_nobody"])
def test_first_days_and_counts_equal_pandas_over_raw_events(loaded, org):
    db, events = loaded
    model = ReadModel(db)
    for lo, hi in WINDOWS:
        raw = _slice(events, org, lo, hi)
        got = model.user_resource_first_days(org, lo, hi)
        columns = ["user_id", "resource_type", "resource_id", "first_day", "events"]
        assert list(got.columns) == columns
        assert _rows(got) == _rows(_pandas_resource_first_days(raw)), (lo, hi)
        got = model.user_address_first_days(org, lo, hi)
        assert list(got.columns) == ["user_id", "ip_address", "user_agent", "first_day"]
        assert _rows(got) == _rows(_pandas_address_first_days(raw)), (lo, hi)
        got = model.user_day_distinct_counts(org, lo, hi)
        assert _rows(got) == _rows(_pandas_distinct_counts(raw)), (lo, hi)
        for ids in (["payment-logs"], ["customer-data", "auth-logs", "nothing-here"]):
            got = model.user_day_events_on(org, lo, hi, ids)
            assert list(got.columns) == ["day", "user_id", "events"]
            assert _rows(got) == _rows(_pandas_events_on(raw, ids)), (lo, hi, ids)


def test_the_data_has_the_shapes_the_reads_must_survive(loaded):
    db, events = loaded
    a = events.loc[events["organization_id"] == "org_a"]
    assert a["user_id"].isna().any() and a.loc[a["user_id"].isna(), "user_email"].notna().any()
    # Past the watermark: a user only there, and days before anything rolled up.
    with db.admin() as session:
        rolled = session.scalar(
            "SELECT min(day) FROM rollup_user_days WHERE organization_id = :org", {"org": "org_a"}
        )
    assert "u_new" in set(a["user_id"]) and a["day"].min() < rolled
    # The second organisation was active before the first one's first rolled-up day.
    assert events.loc[events["organization_id"] == "org_b", "day"].min() < rolled


def test_distinct_counts_match_the_feature_read(loaded):
    db, _ = loaded
    model = ReadModel(db)
    lo, hi = WINDOWS[0]
    features = model.user_day_features("org_a", lo, hi)
    counts = model.user_day_distinct_counts("org_a", lo, hi)
    columns = ["day", "user_id", "distinct_resources", "distinct_ips", "distinct_user_agents"]
    assert _rows(features[columns]) == _rows(counts)


def test_events_on_refuses_bad_resource_lists(loaded):
    db, _ = loaded
    model = ReadModel(db)
    with pytest.raises(ReadModelError, match="resource_ids"):
        model.user_day_events_on("org_a", START, START, "payment-logs")
    assert model.user_day_events_on("org_a", START, START, []).empty
