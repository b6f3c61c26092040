"""An outsider's attacks on TimescaleDB chunks: what the application roles can reach behind
audit_events (compressed batch tables, TimescaleDB's own functions), a purge racing a writer,
and tamper evidence after compression and after a chunk is purged whole."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from integrity import keys as keymod
from integrity.seal import seal_organization
from integrity.verify import verify_organization
from sql.compression import compress_old_chunks
from sql.gateway import Database
from sql.holds import place_hold
from sql.retention import PurgeSummary, purge, set_policy
from tests.factories import event_row
from tests.sql.chunk_helpers import batches_of, chunk_of, login, store

OLD = datetime(2015, 3, 10, tzinfo=UTC)  # a week of its own, long expired for logins
APP_ROLES = ["auditlens_writer", "auditlens_reader"]


def _counts(db: Database) -> dict[str, int]:
    with db.admin() as s:
        return dict(
            s.execute(
                "SELECT organization_id, count(*) FROM audit_events WHERE NOT own_use GROUP BY 1"
            ).rows
        )


def _as(db: Database, role: str, statement: str) -> None:
    """Run `statement` as `role` and commit it if it passes."""
    with db.engine.connect() as conn:
        conn.execute(text(f"SET ROLE {role}"))
        try:
            conn.execute(text(statement))
            conn.commit()
        finally:
            conn.rollback()


# ---- what the application roles reach behind audit_events --------------------------------


@pytest.fixture
def compressed(db: Database, timescale_only) -> tuple[Database, str, str]:
    """org_a's old events in a compressed chunk, and a recent chunk; returns the old chunk and
    its batch table."""
    store(db, [login(f"old_{i}", event_time=OLD + timedelta(hours=i)) for i in range(5)])
    store(db, [login("recent", event_time=datetime.now(UTC))])
    assert compress_old_chunks(db, days=30) == 1
    old = chunk_of(db, "old_0")
    return db, old, batches_of(db, old)


def test_a_writer_cannot_plant_compressed_batches_behind_the_server_columns(compressed):
    """A batch table holds events already compressed: a row put there never meets the trigger
    that sets received_at, ingest_seq, ingest_xid and the retention guarantee. A writer that
    could insert there could copy org_a's batch into another organisation, or forge those
    columns."""
    db, _, batches = compressed
    with db.admin() as s:
        # org_a's batches, handed to org_b: every column as stored but the organisation
        columns = s.scalar(
            "SELECT string_agg(CASE attname WHEN 'organization_id' THEN quote_literal('org_b')"
            " ELSE quote_ident(attname) END, ', ' ORDER BY attnum) FROM pg_attribute"
            " WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped",
            {"t": batches},
        )
    planted = f"INSERT INTO {batches} SELECT {columns} FROM {batches}"
    with pytest.raises(Exception, match=r"permission denied for table compress_hyper_"):
        _as(db, "auditlens_writer", planted)
    assert _counts(db) == {"org_a": 6}


@pytest.mark.parametrize("role", APP_ROLES)
def test_an_application_role_cannot_drop_a_chunk_through_timescaledb_internals(
    compressed, role: str
):
    """TimescaleDB 2.27's _timescaledb_functions.drop_chunk checks no privilege of its own:
    any role that may execute it drops a whole chunk of every organisation's events."""
    db, old, _ = compressed
    with pytest.raises(Exception, match=r"permission denied for function drop_chunk"):
        _as(db, role, f"SELECT _timescaledb_functions.drop_chunk('{old}')")
    assert _counts(db) == {"org_a": 6}


@pytest.mark.parametrize("role", APP_ROLES)
def test_an_application_role_cannot_freeze_the_chunk_writers_need(
    db: Database, timescale_only, role: str
):
    """A frozen chunk refuses every insert: a reader that could freeze this week's chunk
    would stop ingest for every organisation ("cannot INSERT into frozen chunk")."""
    store(db, [login("now", event_time=datetime.now(UTC))])
    chunk = chunk_of(db, "now")
    with pytest.raises(Exception, match=r"permission denied for function freeze_chunk"):
        _as(db, role, f"SELECT _timescaledb_functions.freeze_chunk('{chunk}')")
    store(db, [login("later", event_time=datetime.now(UTC))])
    assert _counts(db) == {"org_a": 2}


# ---- a purge racing a writer ------------------------------------------------------------------


def _blocked_by(db: Database, pid: int) -> int:
    with db.admin() as s:
        return int(
            s.scalar(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE CAST(:pid AS integer) = ANY(pg_blocking_pids(pid))",
                {"pid": pid},
            )
        )


def _wait_until_blocked(db: Database, pid: int, alive: threading.Thread, *, count: int = 1) -> None:
    deadline = time.monotonic() + 120
    while _blocked_by(db, pid) < count:
        assert alive.is_alive(), "finished without waiting"
        assert time.monotonic() < deadline, "never waited"
        time.sleep(0.02)


@pytest.mark.parametrize("compress", [False, True], ids=["plain chunk", "compressed chunk"])
def test_a_write_waiting_behind_a_chunk_purge_is_never_lost(
    db: Database, timescale_only, compress: bool
):
    """The purge has dropped an expired chunk and not yet committed when a writer brings an
    event for that week that org_b keeps for a century. The writer waits for the purge; when
    it goes on, its event is either stored (so still there) or refused (so not acknowledged),
    never acknowledged and gone."""
    set_policy(db, "org_b", "login", 36500, actor="t:admin")
    store(db, [login(f"expired_{i}", event_time=OLD + timedelta(hours=i)) for i in range(3)])
    store(db, [login("recent", event_time=datetime.now(UTC))])
    if compress:
        compress_old_chunks(db, days=30)
    recent_chunk = chunk_of(db, "recent")
    outcome: dict[str, object] = {}

    def run_purge() -> None:
        try:
            outcome["purge"] = purge(db)
        except BaseException as exc:  # reported by the assertions below
            outcome["purge"] = exc

    def run_writer() -> None:
        try:
            store(
                db,
                [login("late", organization_id="org_b", event_time=OLD + timedelta(hours=9))],
                rolled_up=False,
            )
            outcome["writer"] = "acknowledged"
        except BaseException as exc:
            outcome["writer"] = exc

    # The blocker holds the recent chunk so that the purge, having dropped the old chunk,
    # waits before its row-by-row DELETE (which needs every chunk) with the drop uncommitted.
    with db.raw_connection() as blocker:
        blocker.execute(f"LOCK TABLE {recent_chunk} IN SHARE MODE")
        blocker_pid = blocker.info.backend_pid
        purger = threading.Thread(target=run_purge)
        purger.start()
        _wait_until_blocked(db, blocker_pid, purger)
        writer = threading.Thread(target=run_writer)
        writer.start()
        with db.admin() as s:
            purger_pid = s.scalar(
                "SELECT pid FROM pg_stat_activity"
                " WHERE CAST(:b AS integer) = ANY(pg_blocking_pids(pid))",
                {"b": blocker_pid},
            )
        deadline = time.monotonic() + 60
        while not _blocked_by(db, purger_pid):
            assert writer.is_alive(), "the writer did not wait for the purge"
            assert time.monotonic() < deadline, "the writer never waited for the purge"
            time.sleep(0.02)
        blocker.rollback()
    purger.join(timeout=120)
    writer.join(timeout=120)
    assert not purger.is_alive() and not writer.is_alive()
    assert isinstance(outcome["purge"], PurgeSummary), outcome["purge"]
    if outcome["writer"] == "acknowledged":
        assert _counts(db).get("org_b") == 1, "an acknowledged event is gone"


# ---- tamper evidence --------------------------------------------------------------------------


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


def _report(db: Database, key: keymod.SigningKey, org: str = "org_a"):
    return verify_organization(db, org, keymod.PublicKeys({key.key_id: key.public}))


def test_a_late_event_into_a_sealed_compressed_chunk_changes_no_sealed_event(
    db: Database, timescale_only, key
):
    """Inserting into a compressed chunk makes TimescaleDB decompress the batches it must
    check for duplicates: the sealed events it writes back must keep their server columns."""
    when = datetime.now(UTC) - timedelta(days=60)
    rows = [event_row(id=f"cfg_{i}", event_type="config_change", event_time=when) for i in range(4)]
    store(db, rows)
    seal_organization(db, "org_a", key)
    compress_old_chunks(db, days=30)
    with db.admin() as s:
        before = s.execute(
            "SELECT id, received_at, ingest_seq, ingest_xid::text, retention_guaranteed_until"
            " FROM audit_events ORDER BY id"
        ).rows
    # a re-sent event (a no-op) and a late one of the same organisation and hour
    store(db, [rows[0], event_row(id="late", event_type="config_change", event_time=when)])
    with db.admin() as s:
        after = s.execute(
            "SELECT id, received_at, ingest_seq, ingest_xid::text, retention_guaranteed_until"
            " FROM audit_events WHERE id <> 'late' ORDER BY id"
        ).rows
    assert after == before
    report = _report(db, key)
    assert report.clean, [p.line() for p in report.problems]
    compress_old_chunks(db, days=30)
    seal_organization(db, "org_a", key)
    report = _report(db, key)
    assert report.clean, [p.line() for p in report.problems]


@pytest.mark.parametrize("compress", [False, True], ids=["plain chunk", "compressed chunk"])
def test_a_chunk_purged_whole_verifies_as_a_purge(db: Database, timescale_only, key, compress):
    store(db, [login(f"gone_{i}", event_time=OLD + timedelta(hours=i)) for i in range(5)])
    store(db, [event_row(id="kept", event_time=datetime.now(UTC) - timedelta(hours=1))])
    seal_organization(db, "org_a", key)
    if compress:
        compress_old_chunks(db, days=30)
    chunk = chunk_of(db, "gone_0")
    assert purge(db).removed == {("org_a", "login"): 5}
    with db.admin() as s:
        assert s.scalar("SELECT to_regclass(:c)", {"c": chunk}) is None  # dropped whole
    report = _report(db, key)
    assert report.clean, [p.line() for p in report.problems]
    assert report.events_purged == 5


def test_a_writer_cannot_make_a_chunk_that_no_insert_protects(db: Database, timescale_only):
    """A chunk made through TimescaleDB's create_chunk and written directly never meets the
    hypertable's insert trigger that gives it its TRUNCATE trigger: the superuser's TRUNCATE
    of it then removed the writer's events silently."""
    with pytest.raises(Exception, match=r"permission denied for function create_chunk"):
        _as(
            db,
            "auditlens_writer",
            "SELECT _timescaledb_functions.create_chunk('audit_events',"
            " '{\"event_time\": [1900000000000000, 1900604800000000]}')",
        )


def test_an_event_changed_inside_a_compressed_chunk_is_named(db: Database, timescale_only, key):
    """With triggers off (a superuser's session_replication_role), TimescaleDB's own UPDATE
    of a compressed chunk decompresses the batch and writes it back changed: verify must name
    that event, and only it."""
    when = datetime.now(UTC) - timedelta(days=60)
    rows = [event_row(id=f"cfg_{i}", event_type="config_change", event_time=when) for i in range(4)]
    store(db, rows)
    seal_organization(db, "org_a", key)
    assert compress_old_chunks(db, days=30) == 1
    with db.engine.connect() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE audit_events SET user_id = 'someone_else' WHERE id = 'cfg_2'"))
        conn.commit()
    compress_old_chunks(db, days=30)  # and compressed again
    problems = _report(db, key).problems
    assert {(p.kind, p.event_id) for p in problems} == {("event_modified", "cfg_2")}


def test_a_batch_table_compressed_outside_auditlens_refuses_a_writer(db: Database, timescale_only):
    """An operator compressing by hand (or a TimescaleDB policy) makes a batch table no
    AuditLens compression run protected yet: it must not take a writer's rows either."""
    store(db, [login(f"old_{i}", event_time=OLD + timedelta(hours=i)) for i in range(3)])
    chunk = chunk_of(db, "old_0")
    with db.admin() as s:
        s.execute("SELECT compress_chunk(CAST(:c AS regclass))", {"c": chunk})
    batches = batches_of(db, chunk)
    with pytest.raises(Exception, match=r"permission denied for table compress_hyper_"):
        _as(db, "auditlens_writer", f"INSERT INTO {batches} SELECT * FROM {batches}")
    assert _counts(db) == {"org_a": 3}


@pytest.mark.parametrize("compress", [False, True], ids=["plain chunk", "compressed chunk"])
def test_another_organisations_hold_keeps_the_chunk_and_only_what_it_holds(
    db: Database, timescale_only, compress: bool
):
    """Every event of the week has expired; org_b's hold covers one of org_b's. The chunk
    stays, org_a's events and org_b's unheld one go, and org_a's hold-free purge is not
    reported as anything org_b's hold kept."""
    store(
        db,
        [login(f"a_{i}", event_time=OLD + timedelta(hours=i)) for i in range(3)]
        + [
            login("b_free", organization_id="org_b", event_time=OLD),
            login("b_held", organization_id="org_b", event_time=OLD, resource_id="payments"),
        ],
    )
    chunk = chunk_of(db, "b_held")
    if compress:
        compress_old_chunks(db, days=30)
    hold = place_hold(
        db, "org_b", "resource:payments", reason="case", reference="CASE-1", actor="t:admin"
    )
    summary = purge(db)
    assert summary.removed == {("org_a", "login"): 3, ("org_b", "login"): 1}
    assert summary.kept == {("org_b", hold.hold_id, "login"): 1}
    with db.admin() as s:
        assert s.scalar("SELECT to_regclass(:c) IS NOT NULL", {"c": chunk})
        left = s.execute("SELECT id FROM audit_events WHERE event_type = 'login'").rows
    assert left == [("b_held",)]


# ---- the read model over compressed and purged chunks ---------------------------------------


def test_the_read_model_equals_raw_events_over_compressed_and_purged_chunks(
    db: Database, timescale_only
):
    """Counts from the rollups stay the raw events' when their chunks are compressed, when
    late events land in a compressed chunk, and after the purge drops or thins chunks."""
    import random

    from sql.read_model import ReadModel
    from tests.sql import read_model_reference as ref
    from tests.sql.read_model_reference import DAYS, START, Generator

    orgs = ["org_utc", "org_ny"]
    t0, t1 = START - timedelta(days=1), START + timedelta(days=DAYS + 1)
    gen = Generator(seed=23)
    model = ReadModel(db)
    first = [gen.event(random.Random(i).choice(orgs), day_from=7) for i in range(300)]
    store(db, [e.row() for e in first])
    model.refresh()  # compresses them: every event is older than the setting's 30 days
    with db.admin() as s:
        assert (
            s.scalar("SELECT count(*) FROM timescaledb_information.chunks WHERE is_compressed") >= 2
        )
    late = [gen.event(random.Random(i).choice(orgs), day_to=7) for i in range(200)]
    store(db, [e.row() for e in late + first[:20]])
    model.refresh()  # and compresses the chunks the late events reopened
    events = first + late
    for org in orgs:
        assert model.totals(org, t0, t1) == ref.totals(events, org, t0, t1)
    summary = purge(db)
    assert summary.total > 0
    with db.admin() as s:
        left = {i for (i,) in s.execute("SELECT id FROM audit_events WHERE NOT own_use").rows}
    kept = [e for e in events if e.id in left]
    assert len(kept) == len(events) - summary.total
    for org in orgs:
        assert model.totals(org, t0, t1) == ref.totals(kept, org, t0, t1)


def test_compression_racing_a_purge_of_the_same_chunk_does_not_fail(db: Database, timescale_only):
    """The compression run lists old chunks, then waits for a chunk the purge is dropping:
    once the purge commits, that chunk is gone, and the run (and the refresh it follows)
    must go on rather than fail on it."""
    store(db, [login(f"expired_{i}", event_time=OLD + timedelta(hours=i)) for i in range(3)])
    store(db, [login("recent", event_time=datetime.now(UTC))])
    recent_chunk = chunk_of(db, "recent")
    outcome: dict[str, object] = {}

    def run(name: str, work) -> threading.Thread:
        def target() -> None:
            try:
                outcome[name] = work()
            except BaseException as exc:  # reported by the assertions below
                outcome[name] = exc

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    with db.raw_connection() as blocker:
        blocker.execute(f"LOCK TABLE {recent_chunk} IN SHARE MODE")
        blocker_pid = blocker.info.backend_pid
        purger = run("purge", lambda: purge(db))
        _wait_until_blocked(db, blocker_pid, purger)  # the old chunk dropped, not committed
        with db.admin() as s:
            purger_pid = s.scalar(
                "SELECT pid FROM pg_stat_activity"
                " WHERE CAST(:b AS integer) = ANY(pg_blocking_pids(pid))",
                {"b": blocker_pid},
            )
        compressor = run("compress", lambda: compress_old_chunks(db, days=30))
        deadline = time.monotonic() + 60
        while not _blocked_by(db, purger_pid):
            assert compressor.is_alive(), f"compression did not wait: {outcome}"
            assert time.monotonic() < deadline, "compression never waited for the purge"
            time.sleep(0.02)
        blocker.rollback()
    purger.join(timeout=120)
    compressor.join(timeout=120)
    assert isinstance(outcome["purge"], PurgeSummary), outcome["purge"]
    assert outcome["compress"] == 0, outcome["compress"]
