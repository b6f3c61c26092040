"""The batched writer: bad rows go to audit_rejects with their reason, the batch survives, and
the counts always add up."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.writer import EventWriter, Item, content_event_id, raw_bytes
from tests.factories import event_row
from tests.ingest.hostile import hostile_events, mostly_valid_events

GOOD = {
    "id": "e1",
    "timestamp": "2025-01-15T14:32:15Z",
    "event_type": "log_access",
    "event_action": "search",
    "organization_id": "org_a",
}


def items(events):
    return [Item(i, raw_bytes(e), e) for i, e in enumerate(events)]


def test_one_bad_row_does_not_fail_its_batch(db):
    writer = EventWriter(db, source="test")
    bad = dict(GOOD, id="e2", ip_address="300.1.1.1")
    result = writer.write(items([GOOD, bad, dict(GOOD, id="e3"), GOOD]))
    assert (result.sent, result.accepted, result.duplicates, result.rejected) == (4, 2, 1, 1)
    assert result.rejections[0].position == 1 and result.rejections[0].field == "ip_address"
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events") == 2
        reject = s.execute(
            "SELECT source, line_no, field, reason, raw_payload FROM org_audit_rejects"
        )
    source, line_no, field, reason, raw = reject.rows[0]
    assert (source, line_no, field) == ("test", 1, "ip_address")
    assert "IPv4" in reason and json.loads(bytes(raw))["ip_address"] == "300.1.1.1"


def test_a_row_the_database_refuses_is_isolated_and_recorded(db):
    """Rows the model never saw (a bypassed check) are bisected out, the rest is stored."""
    writer = EventWriter(db, source="test")
    rows = [event_row(id=f"r{i}") for i in range(7)]
    rows[4] = event_row(id="r4", ip_address="not-an-ip")
    good = [Item(i, b"raw", {"organization_id": "org_a"}) for i in range(7)]
    with db.writer() as session:
        result = writer.write_checked(session, rows, good, [])
    assert (result.accepted, result.rejected, result.sent) == (6, 1, 7)
    assert result.rejections[0].position == 4
    assert "refused by the database" in result.rejections[0].reason
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events") == 6
        assert s.scalar("SELECT count(*) FROM org_audit_rejects") == 1


def test_content_ids_are_uuid7_and_stable():
    from datetime import UTC, datetime

    when = datetime(2025, 1, 15, tzinfo=UTC)
    a = content_event_id(when, b'{"x":1}')
    assert a == content_event_id(when, b'{"x":1}') != content_event_id(when, b'{"x":2}')
    assert a[14] == "7" and a[19] in "89ab"
    assert a < content_event_id(datetime(2025, 1, 16, tzinfo=UTC), b'{"x":1}')


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(hostile_events(), mostly_valid_events()), min_size=1, max_size=30))
def test_hostile_batches_always_add_up(db, events):
    writer = EventWriter(db, source="hostile")
    with db.admin() as s:
        before_events = s.scalar("SELECT count(*) FROM audit_events")
        before_rejects = s.scalar("SELECT count(*) FROM audit_rejects")
    result = writer.write(items(events))
    assert result.sent == len(events) and result.balanced
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_events") - before_events == result.accepted
        assert s.scalar("SELECT count(*) FROM audit_rejects") - before_rejects == result.rejected


def test_concurrent_writers_of_a_new_month_both_succeed(db):
    """Two batches creating the same month's partition at once (and sharing ids) must both
    be stored: the loser of the race is run again, never failed."""
    import threading

    writer = EventWriter(db, source="test")
    errors: list[BaseException] = []
    for year in (2019, 2020, 2021):
        batch = [
            dict(GOOD, id=f"c{year}_{i}", timestamp=f"{year}-03-0{1 + i % 9}T10:00:00Z")
            for i in range(200)
        ]

        def run(events):
            try:
                writer.write(items(events))
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(batch,)),
            threading.Thread(target=run, args=(list(reversed(batch)),)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events") == 600


def test_a_writer_without_a_database_refuses_to_store():
    # A real check, not an assert that `python -O` would strip.
    checker = EventWriter(None, source="dry-run")
    with pytest.raises(RuntimeError, match="a writer without a database only checks"):
        checker.write_rows([], [], [])
