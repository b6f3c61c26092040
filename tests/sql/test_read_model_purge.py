"""A retention purge keeps the rollups exact: the days that lost events are rolled up again in
the purge's own transaction, so no read (and no later refresh) counts a purged event."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from sql.retention import purge
from sql.rollup import ROLLUP_TABLES
from tests.factories import event_row

NOW = datetime.now(UTC).replace(microsecond=0)
FAMILIES = ("login", "log_access", "config_change", "api_call")


def _events(rng: random.Random, n: int, *, org: str, prefix: str) -> list[tuple[Any, ...]]:
    """Events over the last 120 days: logins older than 90 days expire (their default
    guarantee), the others are kept; several users, resources, IPs on the same days."""
    rows = []
    for i in range(n):
        when = NOW - timedelta(days=rng.uniform(0, 120), hours=rng.uniform(0, 24))
        rows.append(
            event_row(
                id=f"{prefix}{i}",
                organization_id=org,
                event_time=when,
                event_type=rng.choice(FAMILIES),
                event_action=rng.choice(["login", "search", "export_logs", "view_logs"]),
                user_id=rng.choice(["u1", "u2", "u3", None]),
                user_email=rng.choice(["a@x.com", "b@x.com"]),
                ip_address=rng.choice(["10.0.0.1", "10.0.0.2"]),
                resource_id=rng.choice(["r1", "r2", None]),
                details={"records": rng.randint(0, 50), "results_count": rng.randint(0, 99)},
            )
        )
    return rows


def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.admin() as session:
        return {
            table: sorted(
                (
                    tuple(str(v) for v in row)
                    for row in session.execute(
                        f"SELECT * FROM {table}",
                        max_rows=1_000_000,
                    ).rows
                ),
            )
            for table in ROLLUP_TABLES
        }


def _raw_count(db: Database, org: str, start: datetime, end: datetime) -> int:
    with db.org_session(org) as session:
        return int(
            session.scalar(
                "SELECT count(*) FROM org_audit_events"
                " WHERE NOT own_use AND event_time >= :s AND event_time < :e",
                {"s": start, "e": end},
            )
        )


def test_purge_rolls_the_affected_days_up_again(db: Database):
    rng = random.Random(7)
    model = ReadModel(db)
    with db.writer() as w:
        insert_events(w, _events(rng, 400, org="org_a", prefix="a"))
        insert_events(w, _events(rng, 200, org="org_b", prefix="b"))
    model.refresh()
    # More events after the refresh, some of them expired too: past the watermark.
    with db.writer() as w:
        insert_events(w, _events(rng, 150, org="org_a", prefix="late"))

    start, end = NOW - timedelta(days=130), NOW + timedelta(days=1)
    summary = purge(db, actor="test:purger")
    assert summary.total > 0

    # Reads right after the purge, without a refresh, equal the raw events that remain.
    for org in ("org_a", "org_b"):
        totals = model.totals(org, start, end)
        assert totals["events"] == _raw_count(db, org, start, end)
        by_day = model.timeline(org, start, end, bucket="day")["events"].sum()
        assert by_day == totals["events"]
        features = model.user_day_features(org, start.date(), end.date())
        assert features["events"].sum() == totals["events"]
        assert features["login"].sum() == totals["by_family"].get("login", 0)

    # A refresh on top (the late events) gives the rollups a full rebuild from raw gives.
    model.refresh()
    incremental = _snapshot(db)
    model.refresh(rebuild=True)
    assert _snapshot(db) == incremental
    assert any(incremental[t] for t in ROLLUP_TABLES)


def test_purge_that_removes_nothing_leaves_the_rollups_alone(db: Database):
    model = ReadModel(db)
    with db.writer() as w:
        insert_events(w, [event_row(event_time=NOW - timedelta(days=1))])
    model.refresh()
    before = _snapshot(db)
    assert purge(db, actor="test:purger").total == 0
    assert _snapshot(db) == before


def test_a_purge_that_empties_a_year_row_removes_it_as_a_rebuild_would(db: Database):
    """A user and a resource whose only events of the year are purged keep no year row
    (all-zero counts, an empty day set): the rollups equal a rebuild's."""
    model = ReadModel(db)
    with db.writer() as w:
        insert_events(
            w,
            [
                # An expired login: the only event of user u_gone and resource r_gone.
                event_row(
                    event_time=NOW - timedelta(days=100),
                    event_type="login",
                    event_action="login",
                    user_id="u_gone",
                    resource_id="r_gone",
                ),
                event_row(event_time=NOW - timedelta(days=1), user_id="u_kept", resource_id="r1"),
            ],
        )
    model.refresh()
    assert purge(db, actor="test:purger").total == 1
    model.refresh()  # the purge's own audit event
    purged = _snapshot(db)
    model.refresh(rebuild=True)
    rebuilt = _snapshot(db)
    assert {t: purged[t] for t in ROLLUP_TABLES if purged[t] != rebuilt[t]} == {}
