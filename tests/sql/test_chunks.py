"""TimescaleDB chunks: compressed after a setting, purged whole when every event in them has
expired and none is held, and append-only like partitions, compressed or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sql.compression import COMPRESS_AFTER_DAYS_ENV, compress_after_days, compress_old_chunks
from sql.errors import ConfigurationError
from sql.gateway import Database
from sql.holds import place_hold
from sql.retention import purge, set_policy
from tests.sql.chunk_helpers import batches_of, chunk_of, login, store

# A week of its own (chunks are 7 days), long past a login's 90-day guarantee.
OLD = datetime(2015, 3, 10, tzinfo=UTC)
ROLES = ["auditlens_writer", "auditlens_owner", None]  # None: the superuser


def _exists(db: Database, relation: str) -> bool:
    with db.admin() as s:
        return s.scalar("SELECT to_regclass(:r) IS NOT NULL", {"r": relation})


def _count(db: Database) -> int:
    with db.admin() as s:
        return int(s.scalar("SELECT count(*) FROM audit_events WHERE NOT own_use"))


def _attempt(db: Database, role: str | None, statement: str) -> str:
    with db.engine.connect() as conn:
        if role:
            conn.execute(text(f"SET ROLE {role}"))
        with pytest.raises(Exception) as raised:
            conn.execute(text(statement))
        conn.rollback()
    return str(raised.value)


def _compressed(db: Database, chunk: str) -> bool:
    with db.admin() as s:
        return bool(
            s.scalar(
                "SELECT is_compressed FROM timescaledb_information.chunks"
                " WHERE format('%I.%I', chunk_schema, chunk_name) = :chunk",
                {"chunk": chunk},
            )
        )


# ---- compression ---------------------------------------------------------------------------


def test_old_chunks_are_compressed_and_recent_ones_are_not(db: Database, timescale_only):
    recent = datetime.now(UTC) - timedelta(days=1)
    store(db, [login("old", event_time=OLD), login("recent", event_time=recent)])
    assert compress_old_chunks(db, days=30) == 1
    assert _compressed(db, chunk_of(db, "old"))
    assert not _compressed(db, chunk_of(db, "recent"))
    assert compress_old_chunks(db, days=30) == 0  # nothing new to compress
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events WHERE id = 'old'") == 1


def test_a_late_event_in_a_compressed_chunk_is_compressed_again(db: Database, timescale_only):
    store(db, [login("first", event_time=OLD)])
    compress_old_chunks(db, days=30)
    store(db, [login("late", event_time=OLD + timedelta(hours=1))])
    assert compress_old_chunks(db, days=30) == 1
    with db.admin() as s:
        status = s.scalar(
            "SELECT _timescaledb_functions.chunk_status(CAST(:c AS regclass))",
            {"c": chunk_of(db, "late")},
        )
    assert status & 8 == 0  # no longer partly compressed
    assert _count(db) == 2


def test_the_refresh_compresses_after_the_setting(db: Database, timescale_only, monkeypatch):
    from sql.read_model import ReadModel

    store(db, [login("old", event_time=datetime.now(UTC) - timedelta(days=20))])
    monkeypatch.setenv(COMPRESS_AFTER_DAYS_ENV, "40")
    ReadModel(db).refresh()
    assert not _compressed(db, chunk_of(db, "old"))
    monkeypatch.setenv(COMPRESS_AFTER_DAYS_ENV, "10")
    ReadModel(db).refresh()
    assert _compressed(db, chunk_of(db, "old"))


@pytest.mark.parametrize("raw", ["0", "-3", "ten", "1.5"])
def test_a_bad_compression_setting_is_one_clear_error(raw: str, monkeypatch):
    monkeypatch.setenv(COMPRESS_AFTER_DAYS_ENV, raw)
    with pytest.raises(ConfigurationError, match=COMPRESS_AFTER_DAYS_ENV):
        compress_after_days()


def test_compression_is_nothing_on_plain_postgresql(db: Database, capabilities):
    store(db, [login("old", event_time=OLD)])
    with db.admin() as s:
        assert s.scalar("SELECT audit_compress_chunks(INTERVAL '30 days')") == (
            1 if capabilities.compression else 0
        )
        assert s.scalar("SELECT audit_protect_chunks()") == 0  # nothing left unprotected


# ---- append-only on every chunk ---------------------------------------------------------------


@pytest.fixture
def chunks(db: Database, timescale_only) -> tuple[Database, str, str, str]:
    """Two old events in a chunk then compressed, one recent in a chunk left as it is."""
    store(db, [login("old_1", event_time=OLD), login("old_2", event_time=OLD)])
    store(db, [login("new", event_time=datetime.now(UTC))])
    compress_old_chunks(db, days=30)
    old = chunk_of(db, "old_1")
    return db, old, batches_of(db, old), chunk_of(db, "new")


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "superuser")
@pytest.mark.parametrize("which", ["plain chunk", "compressed chunk", "its batches"])
@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "TRUNCATE"])
def test_no_role_changes_any_chunk(chunks, role: str | None, which: str, operation: str):
    db, old, batches, new = chunks
    target = {"plain chunk": new, "compressed chunk": old, "its batches": batches}[which]
    column = "organization_id" if which == "its batches" else "event_action"
    statement = {
        "UPDATE": f"UPDATE {target} SET {column} = 'tampered'",
        "DELETE": f"DELETE FROM {target}",
        "TRUNCATE": f"TRUNCATE {target}",
    }[operation]
    message = _attempt(db, role, statement)
    assert "append-only" in message or "permission denied" in message
    if role is None:  # privileges do not stop the superuser: the triggers must, loudly
        assert "append-only" in message
    assert _count(db) == 3


def test_a_chunk_is_protected_by_the_insert_that_creates_it(db: Database, timescale_only):
    # A week no chunk covers yet: the writer's insert creates the chunk, and at once (no
    # refresh, no compression in between) the superuser cannot truncate it.
    store(db, [login("alone", event_time=datetime(2031, 6, 4, tzinfo=UTC))])
    message = _attempt(db, None, f"TRUNCATE {chunk_of(db, 'alone')}")
    assert "append-only" in message
    assert _count(db) == 1


def test_the_writer_cannot_drop_chunks_through_timescaledb(chunks):
    db, *_ = chunks
    message = _attempt(
        db, "auditlens_writer", "SELECT drop_chunks('audit_events', older_than => now())"
    )
    assert "must be owner" in message
    assert _count(db) == 3


# ---- the purge drops whole chunks ------------------------------------------------------------


def _purge_records(db: Database) -> list[tuple[str, dict]]:
    with db.admin() as s:
        return [
            (org, details)
            for org, details in s.execute(
                "SELECT organization_id, details FROM audit_events"
                " WHERE event_action = 'retention_purge' ORDER BY organization_id"
            ).rows
        ]


@pytest.mark.parametrize("compress", [False, True], ids=["plain chunk", "compressed chunk"])
def test_purge_drops_a_whole_expired_chunk(db: Database, timescale_only, compress: bool):
    rows = [login(f"a_{h}", event_time=OLD + timedelta(hours=h)) for h in range(6)]
    rows += [login(f"b_{h}", organization_id="org_b", event_time=OLD) for h in range(3)]
    store(db, rows)
    chunk = chunk_of(db, "a_0")
    batches = None
    if compress:
        compress_old_chunks(db, days=30)
        batches = batches_of(db, chunk)
    summary = purge(db, actor="test:purger")
    assert summary.removed == {("org_a", "login"): 6, ("org_b", "login"): 3}
    assert not _exists(db, chunk)
    if batches:
        assert not _exists(db, batches)
    assert _purge_records(db) == [
        ("org_a", {"removed_by_family": {"login": 6}, "removed_total": 6}),
        ("org_b", {"removed_by_family": {"login": 3}, "removed_total": 3}),
    ]
    with db.admin() as s:
        # Tamper evidence tells these from deletions: each one is recorded as purged.
        assert s.scalar("SELECT count(*) FROM audit_purged_events") == 9


@pytest.mark.parametrize("compress", [False, True], ids=["plain chunk", "compressed chunk"])
def test_another_organisations_unexpired_event_keeps_the_chunk(
    db: Database, timescale_only, compress: bool
):
    # The same family and week; the other organisation keeps its logins for a century.
    set_policy(db, "org_b", "login", 36500, actor="t:admin")
    store(
        db,
        [
            login("expired", event_time=OLD),
            login("kept", organization_id="org_b", event_time=OLD + timedelta(hours=2)),
        ],
    )
    chunk = chunk_of(db, "expired")
    if compress:
        compress_old_chunks(db, days=30)
    summary = purge(db)
    assert summary.removed == {("org_a", "login"): 1}
    assert _exists(db, chunk)
    with db.admin() as s:
        assert s.execute("SELECT id FROM audit_events WHERE NOT own_use").rows == [("kept",)]


@pytest.mark.parametrize("compress", [False, True], ids=["plain chunk", "compressed chunk"])
def test_a_held_event_keeps_its_chunk(db: Database, timescale_only, compress: bool):
    store(
        db,
        [login(f"old_{h}", event_time=OLD + timedelta(hours=h)) for h in range(4)]
        + [login("held", event_time=OLD + timedelta(hours=5), resource_id="payments")],
    )
    chunk = chunk_of(db, "held")
    if compress:
        compress_old_chunks(db, days=30)
    hold = place_hold(
        db, "org_a", "resource:payments", reason="audit", reference="CASE-9", actor="t:admin"
    )
    summary = purge(db)
    assert summary.removed == {("org_a", "login"): 4}
    assert summary.kept == {("org_a", hold.hold_id, "login"): 1}
    assert _exists(db, chunk)
    with db.admin() as s:
        left = s.execute(
            "SELECT id FROM audit_events WHERE NOT own_use AND event_type = 'login'"
        ).rows
    assert left == [("held",)]
