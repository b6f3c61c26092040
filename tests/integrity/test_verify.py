"""Tamper evidence end to end: seal, tamper as a superuser, and `verify` names the damage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from integrity import keys as keymod
from integrity.seal import seal_organization
from integrity.seal_record import Seal
from integrity.verify import VerifyReport, verify_organization
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row

ORG = "org_a"
# Still under every retention guarantee (so a purge must not explain its absence); one
# value for all rows keeps them in one partition.
RECENT = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


@pytest.fixture
def trusted(key: keymod.SigningKey) -> keymod.PublicKeys:
    return keymod.PublicKeys({key.key_id: key.public})


def _insert(db: Database, n: int, **fields) -> list[str]:
    fields.setdefault("event_time", RECENT)
    rows = [event_row(**fields) for _ in range(n)]
    with db.writer() as w:
        insert_events(w, rows)
    return [r[1] for r in rows]


def _tamper(db: Database, *statements: str) -> None:
    """Run statements as a superuser with every trigger off: what an attacker could do."""
    with db.engine.connect() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            conn.execute(text(statement))
        conn.commit()


def _verify(db: Database, trusted: keymod.PublicKeys, **kw) -> VerifyReport:
    return verify_organization(db, ORG, trusted, **kw)


@pytest.fixture
def sealed(db: Database, key: keymod.SigningKey) -> tuple[Database, list[str]]:
    first = _insert(db, 5)
    seal_organization(db, ORG, key)
    second = _insert(db, 4, event_type="config_change", event_action="update_alert_rule")
    seal_organization(db, ORG, key)
    seal_organization(db, ORG, key)  # an empty period still gets a seal
    return db, first + second


def test_untouched_store_verifies_clean(sealed, trusted):
    db, ids = sealed
    report = _verify(db, trusted)
    assert report.clean, [p.line() for p in report.problems]
    assert report.seals_checked == 3
    assert report.events_checked == len(ids)
    assert report.pending_events == 0


def test_events_after_the_last_seal_are_pending_not_problems(sealed, trusted):
    db, _ = sealed
    _insert(db, 2)
    report = _verify(db, trusted)
    assert report.clean
    assert report.pending_events == 2


def test_one_changed_field_names_the_event_and_its_seal(sealed, trusted):
    db, ids = sealed
    _tamper(db, f"UPDATE audit_events SET user_email = 'x@evil.test' WHERE id = '{ids[6]}'")
    report = _verify(db, trusted)
    assert [(p.kind, p.seal_seq, p.event_id) for p in report.problems] == [
        ("event_modified", 2, ids[6])
    ]


def test_a_deleted_event_is_named(sealed, trusted):
    db, ids = sealed
    _tamper(db, f"DELETE FROM audit_events WHERE id = '{ids[2]}'")
    report = _verify(db, trusted)
    assert [(p.kind, p.seal_seq, p.event_id) for p in report.problems] == [
        ("event_deleted", 1, ids[2])
    ]


def test_a_forged_event_inside_a_sealed_window_is_named(sealed, trusted):
    db, ids = sealed
    # The forger copies an old row's transaction id so the row looks as if it came then.
    _tamper(
        db,
        "INSERT INTO audit_events SELECT organization_id, 'forged_1', event_time, event_type,"
        " event_action, 'someone_else', user_email, ip_address, user_agent, resource_type,"
        " resource_id, details, session_id, received_at, retention_guaranteed_until,"
        f" nextval('audit_events_ingest_seq'), ingest_xid FROM audit_events WHERE id = '{ids[0]}'",
    )
    report = _verify(db, trusted)
    assert [(p.kind, p.seal_seq, p.event_id) for p in report.problems] == [
        ("event_inserted", 1, "forged_1")
    ]


def test_an_event_no_seal_can_ever_cover_is_named(sealed, trusted, key):
    """A row whose ingest_xid no transaction has had yet is never sealed: not pending, wrong."""
    db, ids = sealed
    _tamper(
        db,
        "INSERT INTO audit_events SELECT organization_id, 'from_the_future', event_time,"
        " event_type, event_action, user_id, user_email, ip_address, user_agent, resource_type,"
        " resource_id, details, session_id, received_at, retention_guaranteed_until,"
        f" nextval('audit_events_ingest_seq'), CAST('{2**62}' AS xid8)"
        f" FROM audit_events WHERE id = '{ids[0]}'",
    )
    seal_organization(db, ORG, key)  # sealing does not take it in
    report = _verify(db, trusted)
    assert not report.clean
    assert [(p.kind, p.seal_seq, p.event_id) for p in report.problems] == [
        ("event_unsealable", None, "from_the_future")
    ]
    assert report.pending_events == 0


def test_truncating_a_partition_names_every_lost_event(sealed, trusted, capabilities):
    db, ids = sealed
    with db.admin() as s:
        part, is_partition = s.execute(
            "SELECT c.oid::regclass::text, c.relispartition FROM pg_class c"
            " WHERE c.oid = (SELECT tableoid FROM audit_events WHERE id = :id)",
            {"id": ids[0]},
        ).rows[0]
    # A partition's or a TimescaleDB chunk's: the replica role already silences their
    # triggers; a partition's can also be disabled (TimescaleDB refuses that on a chunk).
    disable = [f"ALTER TABLE {part} DISABLE TRIGGER USER"] if is_partition else []
    _tamper(db, *disable, f"TRUNCATE {part}")
    report = _verify(db, trusted)
    deleted = {p.event_id for p in report.problems if p.kind == "event_deleted"}
    assert deleted == set(ids)
    assert {p.kind for p in report.problems} == {"event_deleted"}


def test_an_altered_seal_is_named(sealed, trusted):
    db, _ = sealed
    _tamper(db, "UPDATE audit_seals SET event_count = event_count - 1 WHERE seal_seq = 2")
    report = _verify(db, trusted)
    kinds = {(p.kind, p.seal_seq) for p in report.problems}
    assert ("seal_altered", 2) in kinds
    assert ("chain_break", 3) in kinds  # seal 3 still chains to the original seal 2


def test_a_seal_resigned_with_another_key_is_refused(sealed, trusted):
    db, _ = sealed
    # An attacker who can write the database but has no signing key signs with their own.
    attacker = keymod.generate()
    with db.admin() as s:
        row = s.execute("SELECT * FROM audit_seals WHERE seal_seq = 3").dicts()[0]
    forged = Seal.from_row(row)
    forged_text = forged.canonical().replace(forged.key_id.encode(), attacker.key_id.encode())
    _tamper(
        db,
        f"UPDATE audit_seals SET key_id = '{attacker.key_id}',"
        f" signature = '\\x{attacker.sign(forged_text).hex()}'::bytea WHERE seal_seq = 3",
    )
    report = _verify(db, trusted)
    assert any(
        p.kind == "seal_altered" and p.seal_seq == 3 and "not among the trusted" in p.detail
        for p in report.problems
    )


def test_a_deleted_middle_seal_is_a_gap(sealed, trusted):
    db, _ = sealed
    _tamper(db, "DELETE FROM audit_seals WHERE seal_seq = 2")
    report = _verify(db, trusted)
    kinds = [(p.kind, p.seal_seq) for p in report.problems]
    assert ("seal_missing", 2) in kinds
    assert ("events_unsealed", 3) in kinds


def test_dropping_the_last_seals_is_caught_by_seal_files(db, key, trusted, tmp_path: Path):
    _insert(db, 3)
    for _ in range(4):
        seal_organization(db, ORG, key, seal_dir=tmp_path)
    _tamper(db, "DELETE FROM audit_seals WHERE seal_seq >= 3")
    report = _verify(db, trusted, seal_dir=tmp_path, record=False)
    missing = sorted(p.seal_seq for p in report.problems if p.kind == "seal_missing")
    assert missing == [3, 4]


def test_dropping_the_last_seals_is_caught_by_the_previous_verification(sealed, trusted):
    db, _ = sealed
    assert _verify(db, trusted).clean  # recorded: it saw seal 3
    _tamper(db, "DELETE FROM audit_seals WHERE seal_seq = 3")
    report = _verify(db, trusted)
    assert [(p.kind, p.seal_seq) for p in report.problems] == [("seal_missing", 3)]
    assert "seal 3 seen by verification" in report.problems[0].detail


def test_altered_leaf_index_is_reported_and_events_still_checked(sealed, trusted):
    db, _ = sealed
    _tamper(db, "DELETE FROM audit_seal_leaves WHERE seal_seq = 1")
    report = _verify(db, trusted)
    assert [(p.kind, p.seal_seq) for p in report.problems] == [("seal_leaves_altered", 1)]


def test_verification_runs_are_recorded(sealed, trusted):
    db, ids = sealed
    _verify(db, trusted)
    _tamper(db, f"UPDATE audit_events SET details = '{{}}' WHERE id = '{ids[0]}'")
    _verify(db, trusted)
    with db.org_session(ORG) as s:
        rows = s.execute(
            "SELECT clean, problem_count, findings FROM org_audit_verifications"
            " ORDER BY verification_id"
        ).rows
    assert [(r[0], r[1]) for r in rows] == [(True, 0), (False, 1)]
    assert rows[1][2][0]["event_id"] == ids[0]


def test_seals_are_append_only(sealed):
    db, _ = sealed
    with db.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE audit_seals SET event_count = 0"))


def test_range_limits_the_event_checks(sealed, trusted):
    db, ids = sealed
    _tamper(db, f"UPDATE audit_events SET user_id = 'x' WHERE id = '{ids[0]}'")
    future = datetime.now(UTC) + timedelta(days=1)
    assert _verify(db, trusted, start=future, record=False).clean
    assert not _verify(db, trusted, record=False).clean


def test_store_still_verifies_after_a_retention_purge(db, key, trusted):
    from sql.retention import purge

    old = datetime.now(UTC) - timedelta(days=400)
    expired = _insert(db, 3, event_type="login", event_action="login", event_time=old)
    kept = _insert(db, 2)
    seal_organization(db, ORG, key)
    summary = purge(db)
    assert summary.removed[(ORG, "login")] == 3
    seal_organization(db, ORG, key)  # seals the purge's own audit event
    report = _verify(db, trusted)
    assert report.clean, [p.line() for p in report.problems]
    assert report.events_purged == len(expired)
    assert report.events_checked == len(kept) + 1


def test_a_deletion_disguised_as_a_purge_is_still_a_deletion(sealed, trusted):
    db, ids = sealed
    # The forger records a purge for an event still under its retention guarantee.
    _tamper(
        db,
        "INSERT INTO audit_purged_events (organization_id, ingest_seq)"
        f" SELECT organization_id, ingest_seq FROM audit_events WHERE id = '{ids[1]}'",
        f"DELETE FROM audit_events WHERE id = '{ids[1]}'",
    )
    report = _verify(db, trusted)
    assert [(p.kind, p.event_id) for p in report.problems] == [("event_deleted", ids[1])]
    assert "guaranteed until" in report.problems[0].detail
