"""TimescaleDB with compression: only events already rolled up are compressed, so the read
model's span of the events past the watermark reads no compressed batch, and every read
stays exact with late events in old chunks, of either organisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.compression import compress_old_chunks
from sql.gateway import Database
from sql.read_model import ReadModel
from tests.sql.chunk_helpers import batches_of, chunk_of, login, roll_up, store

OLD = datetime(2015, 3, 10, tzinfo=UTC)  # a week of its own, long before the compression age
WEEK = (OLD - timedelta(days=1), OLD + timedelta(days=6))


def _compressed(db: Database, event_id: str) -> bool:
    with db.admin() as s:
        return bool(
            s.scalar(
                "SELECT _timescaledb_functions.chunk_status(CAST(:c AS regclass)) & 1 = 1",
                {"c": chunk_of(db, event_id)},
            )
        )


def _span(db: Database, org: str) -> tuple[datetime | None, datetime | None]:
    with db.org_session(org) as s:
        first, last = s.execute("SELECT * FROM auditlens_past_watermark_span()").rows[0]
    return first, last


def _events(db: Database, org: str) -> tuple[int, int]:
    """The week's events of `org` in the read model's totals, and counted from raw events."""
    events = ReadModel(db).totals(org, *WEEK)["events"]
    with db.org_session(org) as s:
        raw = s.scalar(
            "SELECT count(*) FROM org_audit_events WHERE event_time >= :a AND event_time < :b",
            {"a": WEEK[0], "b": WEEK[1]},
        )
    return int(events), int(raw)


def test_a_chunk_with_events_not_rolled_up_waits_for_the_refresh(db: Database, compression_only):
    store(db, [login("old", event_time=OLD)], rolled_up=False)
    assert compress_old_chunks(db, days=30) == 0
    assert not _compressed(db, "old")
    roll_up(db)
    assert compress_old_chunks(db, days=30) == 1
    assert _compressed(db, "old")


def test_the_span_reads_no_compressed_batch(db: Database, compression_only):
    store(db, [login(f"old_{i}", event_time=OLD + timedelta(minutes=i)) for i in range(50)])
    assert compress_old_chunks(db, days=30) == 1
    with db.admin() as s:
        batches = s.scalar(
            "SELECT CAST(:b AS regclass)::oid", {"b": batches_of(db, chunk_of(db, "old_0"))}
        )
    # This backend's scans of the batch table not yet reported (so earlier statements' too):
    # the span's own are the difference.
    scans = (
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_xact_all_tables"
        " WHERE relid = :oid"
    )
    with db.org_session("org_a") as s:
        before = s.scalar(scans, {"oid": batches})
        assert s.execute("SELECT * FROM auditlens_past_watermark_span()").rows[0] == (None, None)
        read = s.scalar(scans, {"oid": batches}) - before
        # A query over the events does read them: the count sees a scan when there is one.
        s.execute("SELECT count(*) FROM org_audit_events")
        assert s.scalar(scans, {"oid": batches}) - before > read
    assert read == 0, "the span read the compressed batches"


def test_late_events_in_a_compressed_chunk_are_read_until_rolled_up(db: Database, compression_only):
    store(
        db,
        [
            login(f"{org}_{i}", organization_id=org, event_time=OLD + timedelta(hours=i))
            for org in ("org_a", "org_b")
            for i in range(10)
        ],
    )
    assert compress_old_chunks(db, days=30) == 1
    late_a, late_b = OLD + timedelta(hours=30), OLD + timedelta(hours=40)
    store(db, [login("late_a", event_time=late_a)], rolled_up=False)
    store(db, [login("late_b", organization_id="org_b", event_time=late_b)], rolled_up=False)
    # The chunk holds events past the watermark again: it stays partly compressed.
    assert compress_old_chunks(db, days=30) == 0
    assert _events(db, "org_a") == (11, 11)
    assert _events(db, "org_b") == (11, 11)
    assert _span(db, "org_a") == (late_a, late_a)
    assert _span(db, "org_b") == (late_b, late_b)
    roll_up(db)
    assert compress_old_chunks(db, days=30) == 1
    assert _span(db, "org_a") == (None, None)
    assert _events(db, "org_a") == (11, 11)
    assert _events(db, "org_b") == (11, 11)
