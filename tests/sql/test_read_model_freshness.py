"""Freshness, exactly-once under out-of-order commits, serialised refreshes, and isolation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from ingest.refresh import ReadModelRefresher
from sql.event_store import insert_events
from sql.gateway import Database, ScopedSession
from sql.read_model import ReadModel
from sql.read_model.raw_part import ORG_SETTINGS
from sql.rollup import REFRESH_LOCK
from tests.factories import event_row

T = datetime(2025, 1, 15, 14, 32, 15, tzinfo=UTC)
DAY = T.date()
WINDOW = (T - timedelta(days=1), T + timedelta(days=1))


def _count(db: Database, org: str = "org_a") -> int:
    return int(ReadModel(db).totals(org, *WINDOW)["events"])


def test_an_event_ingested_now_is_counted_without_a_refresh(db: Database):
    model = ReadModel(db)
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T)])
    model.refresh()
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T), event_row(event_time=T - timedelta(hours=20))])
    # No refresh in between: the two new events are past the watermark and still counted.
    assert _count(db) == 3
    assert ReadModel(db).timeline("org_a", *WINDOW, bucket="day")["events"].sum() == 3
    features = model.user_day_features("org_a", DAY, DAY)
    assert features["events"].tolist() == [2]
    with db.admin() as session:
        rolled = session.scalar("SELECT coalesce(sum(events), 0) FROM rollup_user_days")
    assert rolled == 1  # ...and they really were not rolled up yet


def test_a_transaction_that_commits_late_is_counted_exactly_once(db: Database):
    model = ReadModel(db)
    old = T - timedelta(days=400)
    # Warm-up: the months' partitions exist, so the two writers below never wait on DDL.
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T), event_row(event_time=old)])
    assert model.refresh().events == 2
    # A long transaction takes its xid first, then a short one inserts and commits.
    slow = db.engine.connect()
    slow_tx = slow.begin()
    slow.execute(text("SET LOCAL ROLE auditlens_writer"))
    slow.execute(
        text(
            "INSERT INTO audit_events (organization_id, id, event_time, event_type, event_action,"
            " retention_guaranteed_until) VALUES ('org_a', 'slow', :t, 'login', 'login', :t)"
        ),
        {"t": old},
    )
    with db.writer() as w:
        insert_events(w, [event_row(id="fast", event_time=T)])
    wide = (T - timedelta(days=500), T + timedelta(days=1))
    # The watermark cannot pass the open transaction, so the fast event waits behind it
    # (it is read raw meanwhile) instead of the slow one being skipped for ever.
    assert model.refresh().events == 0
    assert model.totals("org_a", *wide)["events"] == 3
    slow_tx.commit()
    slow.close()
    assert model.totals("org_a", *wide)["events"] == 4  # counted at once, from raw
    assert model.refresh().events == 2  # both, once
    assert model.refresh().events == 0
    assert model.totals("org_a", *wide)["events"] == 4
    with db.admin() as session:
        assert session.scalar("SELECT sum(events) FROM rollup_hour_actions") == 4
        assert session.scalar("SELECT events_total FROM rollup_state") == 4


def test_a_read_is_one_snapshot_across_its_two_statements(db: Database, monkeypatch):
    """The first statement finds the span of the events past the watermark, the second reads
    raw events only there: exact only if both see one snapshot. Between them, another
    session rolls up everything and adds an event outside that span; the read must answer as
    of its snapshot (2), not mix the new rollups with the old span (3) or miss a part."""
    model = ReadModel(db)
    with db.writer() as w:
        insert_events(w, [event_row(id="rolled", event_time=T)])
    model.refresh()
    with db.writer() as w:
        insert_events(w, [event_row(id="past", event_time=T)])
    original = ScopedSession.execute
    interleaved = []

    def execute(self, sql, params=None, **kw):
        result = original(self, sql, params, **kw)
        if sql is ORG_SETTINGS and not interleaved:
            interleaved.append(True)
            with db.writer() as w:
                insert_events(w, [event_row(id="between", event_time=T - timedelta(hours=20))])
            model.refresh()  # rolls up "past" and "between"
            with db.writer() as w:
                insert_events(w, [event_row(id="after", event_time=T - timedelta(hours=20))])
        return result

    monkeypatch.setattr(ScopedSession, "execute", execute)
    assert _count(db) == 2
    assert interleaved
    monkeypatch.undo()
    assert _count(db) == 4


def test_raw_parts_read_only_the_span_past_the_watermark(db: Database):
    """Events past the watermark on one day only: ranges around, inside and outside that
    span count exactly, also when the range edges fall inside hours."""
    model = ReadModel(db)
    days = [T - timedelta(days=n) for n in range(4)]
    with db.writer() as w:
        insert_events(w, [event_row(id=f"r{i}", event_time=t) for i, t in enumerate(days)])
    model.refresh()
    with db.writer() as w:
        insert_events(w, [event_row(id="p1", event_time=days[2] + timedelta(minutes=5))])
    times = [*days, days[2] + timedelta(minutes=5)]
    ranges = [
        (days[3] - timedelta(hours=1), T + timedelta(hours=1)),
        (days[2] - timedelta(minutes=30), days[2] + timedelta(minutes=7)),
        (days[2] + timedelta(minutes=6), T + timedelta(days=1)),
        (days[1].replace(minute=0, second=0), T.replace(minute=0, second=0)),
        (days[2], days[2]),
    ]
    for t0, t1 in ranges:
        want = sum(1 for t in times if t0 <= t < t1)
        assert model.totals("org_a", t0, t1)["events"] == want, (t0, t1)
        assert model.timeline("org_a", t0, t1)["events"].sum() == want, (t0, t1)


def test_refreshes_are_serialised_and_a_busy_one_is_skipped(db: Database):
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T)])
    model = ReadModel(db)
    with db.admin() as holder:
        holder.execute("SELECT pg_advisory_xact_lock(:k)", {"k": REFRESH_LOCK})
        skipped = model.refresh(wait=False)  # what the ingest refresher calls
        assert skipped.skipped and skipped.events == 0
        done: list[int] = []
        waiter = threading.Thread(target=lambda: done.append(model.refresh().events))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and done == []  # waits for the lock holder
    waiter.join(30)
    assert done == [1]
    assert _count(db) == 1


def test_concurrent_refreshes_count_each_event_once(db: Database):
    model = ReadModel(db)
    for i in range(5):
        with db.writer() as w:
            insert_events(w, [event_row(event_time=T + timedelta(minutes=i)) for _ in range(20)])
    results: list[int] = []
    errors: list[BaseException] = []

    def refresh() -> None:
        # Caught here: an exception escaping a thread is only a warning to pytest.
        try:
            results.append(model.refresh().events)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(results) == 100
    with db.admin() as session:
        assert session.scalar("SELECT sum(events) FROM rollup_user_days") == 100


def test_the_ingest_refresher_rolls_up_in_the_background(db: Database):
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T)])
    refresher = ReadModelRefresher(db, interval=0.05)
    try:
        refresher()  # after a stored batch
        for _ in range(200):
            if refresher.refreshes:
                break
            threading.Event().wait(0.05)
    finally:
        refresher.close()
    assert refresher.refreshes == 1
    with db.admin() as session:
        assert session.scalar("SELECT events_total FROM rollup_state") == 1


def test_a_failed_background_refresh_is_retried_after_the_next_batch(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    """The rollups catch up later: a refresh that fails does not end the refresher."""
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T)])
    real_refresh = ReadModel.refresh
    calls: list[bool] = []

    def fail_once(model: ReadModel, *args: object, **kwargs: object) -> object:
        calls.append(True)
        if len(calls) == 1:
            raise RuntimeError("the server went away")
        return real_refresh(model, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ReadModel, "refresh", fail_once)
    refresher = ReadModelRefresher(db, interval=0.05)
    try:
        for _ in range(200):
            refresher()  # after each stored batch
            if refresher.refreshes:
                break
            threading.Event().wait(0.05)
    finally:
        refresher.close()
    assert len(calls) >= 2 and refresher.refreshes == 1
    with db.admin() as session:
        assert session.scalar("SELECT events_total FROM rollup_state") == 1


@pytest.mark.parametrize("refreshed", [False, True])
def test_every_method_sees_only_its_organisation(db: Database, refreshed: bool):
    with db.writer() as w:
        insert_events(
            w,
            [
                event_row(organization_id="org_a", user_id="alice", resource_id="src_a"),
                event_row(organization_id="org_b", user_id="bob", resource_id="src_b"),
                event_row(organization_id="org_b", user_id="bob", resource_id="src_b"),
            ],
        )
    model = ReadModel(db)
    if refreshed:
        model.refresh()
    frames = [
        model.timeline("org_a", *WINDOW),
        model.user_activity("org_a", *WINDOW),
        model.top_users("org_a", *WINDOW),
        model.top_resources("org_a", *WINDOW),
        model.user_day_features("org_a", DAY, DAY),
        model.resource_day_access("org_a", DAY, DAY),
        model.user_day_resources("org_a", DAY, DAY),
        model.user_day_ips("org_a", DAY, DAY),
        model.resource_users("org_a", DAY, DAY, "source", "src_a"),
    ]
    for frame in frames:
        assert frame["events" if "events" in frame else "accesses"].sum() == 1
        for column in ("user_id", "resource_id"):
            if column in frame:
                assert "bob" not in set(frame[column]) and "src_b" not in set(frame[column])
    assert model.totals("org_a", *WINDOW) == {
        "events": 1,
        "users": 1,
        "resources": 1,
        "by_family": {"log_access": 1},
    }
    assert model.totals("org_b", *WINDOW)["events"] == 2
    assert model.resource_users("org_a", DAY, DAY, "source", "src_b").empty
    assert model.totals("org_c", *WINDOW)["events"] == 0


@pytest.mark.parametrize(
    "table",
    [
        "rollup_hour_actions",
        "rollup_hour_users",
        "rollup_user_days",
        "rollup_user_day_resources",
        "rollup_user_day_ips",
        "rollup_resource_days",
    ],
)
def test_reader_cannot_read_rollup_base_tables(db: Database, table: str):
    with pytest.raises(Exception, match="permission denied"), db.org_session("org_a") as session:
        session.execute(f"SELECT 1 FROM {table}")


@pytest.mark.parametrize(
    "view",
    [
        "org_rollup_hour_actions",
        "org_rollup_hour_users",
        "org_rollup_user_days",
        "org_rollup_user_day_resources",
        "org_rollup_user_day_ips",
        "org_rollup_resource_days",
    ],
)
def test_rollup_views_show_nothing_without_an_organisation(db: Database, view: str):
    with db.writer() as w:
        insert_events(w, [event_row(organization_id="org_a")])
    ReadModel(db).refresh()
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_reader"))
        assert conn.execute(text(f"SELECT count(*) FROM {view}")).scalar() == 0
    with db.org_session("org_a") as session:
        assert session.scalar(f"SELECT count(*) FROM {view}") == 1


@pytest.mark.parametrize("function", ["auditlens_top_user_months", "auditlens_top_resource_months"])
def test_month_rank_functions_show_only_the_session_organisation(db: Database, function: str):
    with db.writer() as w:
        insert_events(
            w,
            [
                event_row(organization_id="org_a", resource_id="src_a"),
                event_row(organization_id="org_b", resource_id="src_b"),
            ],
        )
    ReadModel(db).refresh()
    month = T.date().replace(day=1)
    sql = f"SELECT count(*) FROM {function}(:m, 10)"
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_reader"))
        assert conn.execute(text(sql), {"m": month}).scalar() == 0
    with db.org_session("org_a") as session:
        assert session.scalar(sql, {"m": month}) == 1
        rows = session.execute(f"SELECT * FROM {function}(:m, 10)", {"m": month}).rows
        assert "src_b" not in {v for row in rows for v in row}


def test_reads_work_under_parallel_plans(db: Database, pg_server):
    """Every read must survive a forced parallel plan (a trapped error in a function there
    fails with "cannot start subtransactions during a parallel operation")."""
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T + timedelta(minutes=i)) for i in range(30)])
    ReadModel(db).refresh()
    with db.writer() as w:
        insert_events(w, [event_row(event_time=T - timedelta(hours=3))])
    setting = (
        "debug_parallel_query"
        if db.capabilities.server_version_num >= 160000
        else ("force_parallel_mode")
    )
    name = db.engine.url.database
    with pg_server.admin() as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET {setting} = on')
    db.engine.dispose()
    model = ReadModel(db)
    assert model.totals("org_a", *WINDOW)["events"] == 31
    assert model.timeline("org_a", *WINDOW, bucket="day")["events"].sum() == 31
    assert model.user_activity("org_a", *WINDOW, user_id="user_xyz789")["events"].sum() == 31
    assert model.user_day_features("org_a", DAY, DAY)["events"].sum() == 31
    assert model.top_resources("org_a", *WINDOW)["events"].sum() == 31
