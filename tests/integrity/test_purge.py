"""The purge records what it removed itself: any caller's purge still verifies clean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrity import keys as keymod
from integrity.seal import seal_organization
from integrity.verify import verify_organization
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row

ORG = "org_a"


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


@pytest.fixture
def trusted(key) -> keymod.PublicKeys:
    return keymod.PublicKeys({key.key_id: key.public})


def _store(db: Database, key: keymod.SigningKey) -> tuple[int, int]:
    old = datetime.now(UTC) - timedelta(days=400)
    expired = [
        event_row(event_type="login", event_action="login", event_time=old) for _ in range(3)
    ]
    kept = [event_row(event_time=datetime.now(UTC) - timedelta(hours=1)) for _ in range(2)]
    with db.writer() as w:
        insert_events(w, expired + kept)
    seal_organization(db, ORG, key)
    return len(expired), len(kept)


def test_calling_the_purge_function_directly_records_what_it_removed(db, key, trusted):
    expired, kept = _store(db, key)
    with db.admin() as session:
        # Not through sql/retention.py: nothing but the function itself may be relied on.
        removed = session.execute("SELECT * FROM audit_purge_expired(now())").rows
        recorded = session.scalar("SELECT count(*) FROM audit_purged_events")
    assert removed == [(ORG, "login", expired)]
    assert recorded == expired
    report = verify_organization(db, ORG, trusted)
    assert report.clean, [p.line() for p in report.problems]
    assert report.events_purged == expired
    assert report.events_checked == kept


def test_two_purges_in_one_transaction_record_each_event_once(db, key, trusted):
    expired, _ = _store(db, key)
    with db.admin() as session:
        first = session.execute("SELECT * FROM audit_purge_expired(now())").rows
        second = session.execute("SELECT * FROM audit_purge_expired(now())").rows
        recorded = session.scalar(
            "SELECT count(DISTINCT ingest_seq) = count(*) AND count(*) = :n"
            " FROM audit_purged_events",
            {"n": expired},
        )
    assert first == [(ORG, "login", expired)]
    assert second == []
    assert recorded is True
    assert verify_organization(db, ORG, trusted).clean


def test_a_table_named_like_the_working_table_never_receives_the_rows(db, key, trusted):
    expired, _ = _store(db, key)
    with db.admin() as session:
        session.execute(
            "CREATE TABLE public.purge_removed (organization_id text, event_type text,"
            " event_time timestamptz, ingest_seq bigint)"
        )
        session.execute("SELECT * FROM audit_purge_expired(now())")
        stolen = session.scalar("SELECT count(*) FROM public.purge_removed")
        recorded = session.scalar("SELECT count(*) FROM audit_purged_events")
    assert stolen == 0
    assert recorded == expired


def test_the_retention_purge_still_verifies_clean(db, key, trusted):
    from sql.retention import purge

    expired, kept = _store(db, key)
    summary = purge(db)
    assert summary.total == expired
    seal_organization(db, ORG, key)  # seals the purge's own audit event
    report = verify_organization(db, ORG, trusted)
    assert report.clean, [p.line() for p in report.problems]
    assert (report.events_purged, report.events_checked) == (expired, kept + 1)
