"""The SDK: batches from many threads, never raises, spools when the database is away and
replays on recovery and on the next start; durable mode survives kill -9; helpers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingest.writer
from ingest import AuditLogger
from ingest.gil import INGEST_SWITCH_INTERVAL
from ingest.sdk import config_diff
from ingest.spool import Spool
from ingest.writer import EventWriter, Item
from sql.embedded import EmbeddedPostgres
from sql.gateway import Database
from sql.migrate import migrate
from sql.settings import Settings
from tests.ingest.flushing import flushed
from tests.ingest.hostile import hostile_events, mostly_valid_events

EVENT = {"event_type": "log_access", "event_action": "search", "organization_id": "org_a"}


def stored(db, org="org_a"):
    with db.org_session(org) as s:
        return s.scalar("SELECT count(*) FROM org_audit_events"), s.scalar(
            "SELECT count(DISTINCT id) FROM org_audit_events"
        )


def test_four_threads_batch_into_the_database(db, tmp_path):
    logger = AuditLogger(db, spool_dir=tmp_path, batch_size=500, close_at_exit=False)

    def produce(t):
        for i in range(1000):
            assert logger.log_event(EVENT, user_id=f"u{t}", details={"i": i}) is True

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flushed(logger, db, 60)
    c = logger.counters
    assert (c.accepted, c.rejected, c.queued, c.dropped) == (4000, 0, 0, 0)
    logger.close()
    assert stored(db) == (4000, 4000)


def test_log_event_never_raises_and_rejects_are_counted(db, tmp_path):
    logger = AuditLogger(db, spool_dir=tmp_path, close_at_exit=False)
    circular: dict = {}
    circular["self"] = circular
    assert logger.log_event(EVENT) is True
    assert logger.log_event(EVENT, ip_address="not an ip") is True
    assert logger.log_event(EVENT, details={"blob": "x" * 70_000}) is True
    assert logger.log_event(EVENT, details=circular) is True
    assert logger.log_event(EVENT, user_id="a\x00b") is True
    assert logger.log_event(42) is False  # not even a mapping: refused, still no exception
    flushed(logger, db, 30)
    c = logger.counters
    assert (c.accepted, c.rejected, c.dropped) == (1, 4, 1)
    logger.close()
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_rejects WHERE source = 'sdk'") == 4


def test_helpers_record_search_config_diff_and_export(db, tmp_path):
    with AuditLogger(db, spool_dir=tmp_path, organization_id="org_a", close_at_exit=False) as log:
        log.log_search(user_id="u1", query="level:error", results_count=47,
                       start="2025-01-15T14:00:00Z", end="2025-01-15T14:30:00Z",
                       resource_id="source_production_api")  # fmt: skip
        log.log_config_change(
            user_id="u1",
            resource_type="alert_rule",
            resource_id="alert_456",
            old={"enabled": True, "threshold": 100},
            new={"enabled": False, "threshold": 100},
            reason="Testing, will re-enable",
        )
        log.log_export(user_id="u1", format="csv", record_count=12_000)
        flushed(log, db, 30)
    with db.org_session("org_a") as s:
        rows = dict(
            s.execute("SELECT event_action, details FROM org_audit_events").rows
        )  # action -> details
    assert rows["search"]["time_range"]["start"] == "2025-01-15T14:00:00Z"
    assert rows["update"]["changes"] == [
        {"path": "enabled", "old": True, "new": False, "change": "changed"}
    ]
    assert rows["export"] == {"format": "csv", "record_count": 12_000}


def test_config_diff_walks_nested_objects():
    assert config_diff({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": 4}}) == [
        {"path": "a.c", "old": 2, "new": 3, "change": "changed"},
        {"path": "a.d", "old": None, "new": 4, "change": "added"},
    ]
    assert config_diff(30, 90) == [{"path": "value", "old": 30, "new": 90, "change": "changed"}]


def test_unreachable_database_spools_and_the_next_start_replays(db, tmp_path):
    away = Database("postgresql://nobody@127.0.0.1:1/none", db.settings)
    first = AuditLogger(away, spool_dir=tmp_path, batch_size=100, close_at_exit=False)
    for i in range(250):
        assert first.log_event(EVENT, id=f"e{i}")
    assert first.flush(0.5) is False  # cannot reach the database: stays on disk
    first.close(timeout=0.5)
    assert first.counters.spooled == 250 and first.spool.pending() > 0
    away.close()

    second = AuditLogger(db, spool_dir=tmp_path, close_at_exit=False)
    flushed(second, db, 30)
    assert second.counters.replayed == 250
    second.close()
    assert stored(db) == (250, 250)
    assert not list(tmp_path.rglob("seg-*.ndjson"))


def test_a_flush_while_the_database_is_down_retries_at_the_retry_interval(db, tmp_path):
    """A flush tries the database at once, then as the writers would without it: one attempt
    per `retry_interval`, not one for every round of its waiting."""
    away = Database("postgresql://nobody@127.0.0.1:1/none", db.settings)
    logger = AuditLogger(away, spool_dir=tmp_path, retry_interval=1.0, close_at_exit=False)
    try:
        assert logger.log_event(EVENT, id="down-1")
        assert logger.flush(1.5) is False
        # The attempt the flush asked for, and at most one a second after it (with a margin
        # for the writer already trying when the flush began).
        assert 1 <= logger.counters.database_errors <= 4, logger.counters
    finally:
        logger.close(timeout=0.2)
        away.close()


def test_a_flush_waiting_on_a_long_batch_does_not_spin(db, tmp_path, monkeypatch):
    """While one writer's batch waits on the server, a flush waits too: the other writer goes
    round when woken by its interval, not each time the flush looks (the two would hand the
    wake-up back and forth, spending a core for as long as the batch waited)."""
    release, entered = threading.Event(), threading.Event()
    logger = AuditLogger(db, spool_dir=tmp_path, flush_interval=0.2, close_at_exit=False)
    real_write, rounds = logger._write, []

    def slow_write(items, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(30)  # the server holding this batch (a lock, a slow disk)
        return real_write(items, **kwargs)

    real_cycle = logger._cycle

    def counted_cycle() -> None:
        rounds.append(1)
        real_cycle()

    monkeypatch.setattr(logger, "_write", slow_write)
    monkeypatch.setattr(logger, "_cycle", counted_cycle)
    try:
        assert logger.log_event(EVENT, id="slow-1")
        assert entered.wait(30)
        before = len(rounds)
        assert logger.flush(1.0) is False  # the batch is still held
        # A second of the other writer's interval is about five rounds; spinning was thousands.
        assert len(rounds) - before <= 30, len(rounds) - before
    finally:
        release.set()
    flushed(logger, db, 30)
    logger.close()
    assert stored(db) == (1, 1)


def test_a_full_queue_goes_to_the_spool_not_to_memory(db, tmp_path):
    away = Database("postgresql://nobody@127.0.0.1:1/none", db.settings)
    logger = AuditLogger(
        away, spool_dir=tmp_path, max_queue=10, flush_interval=60, close_at_exit=False
    )
    for i in range(100):
        assert logger.log_event(EVENT, id=f"q{i}")
    assert logger.counters.queued <= 10
    assert logger.counters.spooled >= 90
    logger.close(timeout=0.2)
    away.close()


@pytest.mark.slow
def test_database_stopped_while_sending_100000_leaves_exactly_100000(tmp_path):
    data = Path(tempfile.mkdtemp(prefix="auditlens-outage-"))
    data.chmod(0o755)
    server = EmbeddedPostgres(data, fast_unsafe=True)
    db = Database(server.start(), Settings(database_url=None, data_dir=data))
    try:
        migrate(db)
        logger = AuditLogger(
            db,
            spool_dir=tmp_path,
            batch_size=2_000,
            flush_interval=0.05,
            retry_interval=0.2,
            close_at_exit=False,
        )
        for i in range(100_000):
            if i == 30_000:
                server.stop()  # mid-stream: batches in flight fail or are cut off
            if i == 70_000:
                server.start()
            assert logger.log_event(EVENT, details={"n": i})
        assert logger.flush(300), logger.counters
        c = logger.counters
        logger.close()
        assert c.spooled > 0 and c.database_errors > 0, "the outage was not observed"
        with db.admin() as s:
            total = s.scalar("SELECT count(*) FROM audit_events")
            distinct = s.scalar("SELECT count(DISTINCT (details->>'n')) FROM audit_events")
        assert (total, distinct) == (100_000, 100_000)
    finally:
        db.close()
        server.stop()
        # A server's whole data directory (about 280 MB): left behind, every run filled /tmp.
        shutil.rmtree(data, ignore_errors=True)


CHILD = """
import sys
from ingest.sdk import AuditLogger
from sql.gateway import Database
db = Database(sys.argv[1])
log = AuditLogger(db, spool_dir=sys.argv[2], durable=True, flush_interval=5, close_at_exit=False)
i = 0
while True:
    event_id = f"k{i}"
    if log.log_event(event_type="login", event_action="login", organization_id="org_a",
                     id=event_id):
        print(event_id, flush=True)
    i += 1
"""


def test_kill_9_of_a_durable_producer_loses_nothing_acknowledged(db, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db.url, str(tmp_path)],
        stdout=subprocess.PIPE,
        env=env,
    )
    acknowledged = []
    assert child.stdout is not None
    for line in child.stdout:
        acknowledged.append(line.decode().strip())
        if len(acknowledged) >= 1500:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    acknowledged += [ln.decode().strip() for ln in child.stdout.read().splitlines()]
    acknowledged = [a for a in acknowledged if a.startswith("k")]

    logger = AuditLogger(db, spool_dir=tmp_path, close_at_exit=False)
    flushed(logger, db, 60)
    logger.close()
    with db.org_session("org_a") as s:
        ids = {r[0] for r in s.execute("SELECT id FROM org_audit_events", max_rows=10**6).rows}
    missing = set(acknowledged) - ids
    assert len(acknowledged) >= 1500 and not missing


def test_a_producer_stalled_mid_batch_does_not_hold_up_the_replay_of_its_ids(
    db, tmp_path, monkeypatch
):
    """A producer that stops inside a batch (hung, SIGSTOP, its host gone with the connection
    left open) keeps its transaction, and with it the ids it inserted: a replay of the same
    ids waits on them, each attempt until the statement timeout, for as long as that lasts
    (four such waits are a `flush(60)` that returns False). The server ends a batch's
    transaction once its client has been silent in it for BATCH_IDLE_LIMIT_MS."""
    # The limit is the server's to enforce, whatever its length: a shorter one here only
    # spares the test most of the production limit's wait.
    monkeypatch.setattr(ingest.writer, "BATCH_IDLE_LIMIT_MS", 3_000)
    now = datetime.now(UTC).isoformat()
    events = [{**EVENT, "timestamp": now, "id": f"stalled-{i}"} for i in range(20)]
    inserted, resume, outcome = threading.Event(), threading.Event(), []
    stalled = EventWriter(db, source="sdk")
    real = stalled.write_checked

    def insert_then_stall(session, rows, good, bad):  # type: ignore[no-untyped-def]
        result = real(session, rows, good, bad)
        inserted.set()
        resume.wait(120)  # alive, holding the open transaction, saying nothing
        return result

    stalled.write_checked = insert_then_stall  # type: ignore[method-assign]

    def produce() -> None:
        try:
            stalled.write([Item(i, b"", e) for i, e in enumerate(events)])
            outcome.append("committed")
        except Exception as exc:
            outcome.append(type(exc).__name__)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        assert inserted.wait(30)
        spool = Spool(tmp_path, "sdk")
        spool.append([json.dumps(e).encode() + b"\n" for e in events])
        spool.close()
        logger = AuditLogger(db, spool_dir=tmp_path, close_at_exit=False)
        flushed(logger, db, 60)
        logger.close()
    finally:
        resume.set()
        producer.join(30)
    # The server ended the silent transaction: its commit fails, and that producer would
    # spool the batch and replay it later (a no-op now).
    assert len(outcome) == 1 and outcome[0] != "committed"
    assert stored(db) == (20, 20)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(hostile_events(), mostly_valid_events()), min_size=1, max_size=25))
def test_hostile_events_never_raise_and_counts_add_up(db, tmp_path_factory, events):
    logger = AuditLogger(db, spool_dir=tmp_path_factory.mktemp("spool"), close_at_exit=False)
    acknowledged = sum(1 for e in events if logger.log_event(e) is True)
    flushed(logger, db, 60)
    c = logger.counters
    logger.close()
    assert c.accepted + c.duplicates + c.rejected == acknowledged
    assert acknowledged + c.dropped == len(events)


def test_replaying_a_partly_failed_segment_records_each_reject_once(db, tmp_path):
    """Batch 1 of a spooled segment commits (its rejects recorded), batch 2 fails, so the
    whole segment is replayed later: events are no-ops, and rejects must be too."""
    spool = Spool(tmp_path, "sdk")
    when = "2025-01-15T14:32:15Z"
    good = [{**EVENT, "timestamp": when, "id": f"good-{i}"} for i in range(3)]
    bad = [{**EVENT, "timestamp": when, "id": f"bad-{i}", "ip_address": "x"} for i in range(3)]
    lines = [good[0], bad[0], bad[1], good[1], bad[2], good[2]]
    spool.append([json.dumps(e).encode() + b"\n" for e in lines] + [b"{torn\n"])
    spool.close()
    logger = AuditLogger(
        db, spool_dir=tmp_path, batch_size=2, flush_interval=60, retry_interval=0.01,
        close_at_exit=False,
    )  # fmt: skip
    real, calls = logger._writer.write, []

    def second_batch_fails(items):
        calls.append(len(items))
        if len(calls) == 2:
            raise psycopg.OperationalError("the database went away")
        return real(items)

    logger._writer.write = second_batch_fails  # type: ignore[method-assign]
    flushed(logger, db, 30)
    logger.close()
    assert len(calls) > 4  # the first replay stopped at batch 2; a second one ran it all
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_events") == 3
        assert s.scalar("SELECT count(*) FROM audit_rejects WHERE source = 'sdk'") == 4
        assert (
            s.scalar("SELECT count(DISTINCT line_no) FROM audit_rejects WHERE source = 'sdk'") == 4
        )
    c = logger.counters
    assert c.rejected == 4
    assert not list(tmp_path.rglob("seg-*.ndjson"))


def test_segment_names_never_repeat_after_the_folder_empties(tmp_path):
    spool = Spool(tmp_path, "sdk")
    spool.append([b"{}\n"])
    first = Spool.segment_key(next(tmp_path.rglob("seg-*.ndjson")))
    spool.replay(lambda batch: None)
    spool.append([b"{}\n"])
    second = next(tmp_path.rglob("seg-*.ndjson"))
    spool.close()
    assert Spool.segment_key(second) != first


def test_short_switch_interval_is_opt_in_held_while_open_and_restored(db, tmp_path):
    before = sys.getswitchinterval()
    plain = AuditLogger(db, spool_dir=tmp_path / "a", close_at_exit=False)
    assert sys.getswitchinterval() == before
    first = AuditLogger(
        db, spool_dir=tmp_path / "b", close_at_exit=False, short_switch_interval=True
    )
    second = AuditLogger(
        db, spool_dir=tmp_path / "c", close_at_exit=False, short_switch_interval=True
    )
    assert sys.getswitchinterval() == INGEST_SWITCH_INTERVAL < before
    first.log_event(
        timestamp="2025-01-15T14:32:15Z",
        event_type="login",
        event_action="login",
        organization_id="org_a",
    )
    first.close()
    assert sys.getswitchinterval() == INGEST_SWITCH_INTERVAL  # the second still holds it
    second.close()
    plain.close()
    assert sys.getswitchinterval() == before
    assert first.counters.accepted == 1
