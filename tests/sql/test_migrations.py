"""Migrations: ordered, checksummed, once each, safe to repeat."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from sql.errors import MigrationError
from sql.gateway import Database
from sql.migrate import load_migrations, migrate


def test_running_twice_changes_nothing(db: Database):
    assert migrate(db) == []
    assert migrate(db) == []


def test_every_migration_is_recorded_with_its_checksum(db: Database):
    with db.admin() as session:
        recorded = dict(session.execute("SELECT name, checksum FROM schema_migrations").rows)
    assert recorded == {m.name: m.checksum for m in load_migrations()}


def test_an_edited_applied_migration_is_refused(db: Database):
    with db.admin() as session:
        session.execute("UPDATE schema_migrations SET checksum = 'f00' WHERE version = '0002'")
    with pytest.raises(MigrationError, match=r"0002_events\.sql was edited after it was applied"):
        migrate(db)


def test_one_file_per_concern_in_dependency_order():
    assert [m.name for m in load_migrations()] == [
        "0001_roles.sql",
        "0002_events.sql",
        "0003_guarantees.sql",
        "0004_access.sql",
        "0005_rollups.sql",
        "0006_search.sql",
        "0007_findings.sql",
        "0008_accounts.sql",
        "0009_integrity.sql",
        "0010_resources.sql",
        "0011_holds.sql",
        "0012_streaming.sql",
        "0013_saved_searches.sql",
        "0014_read_api.sql",
        "0015_timescaledb_functions.sql",
    ]


# What a database built by the pre-release migrations records (a few of them).
_SQUASHED = [
    ("0000", "0000_roles.sql"),
    ("0001", "0001_events.sql"),
    ("0002", "0002_guarantees.sql"),
    ("0057", "0057_details_trigram_search.sql"),
]


def test_a_database_built_by_the_squashed_migrations_is_told_how_to_move(db: Database):
    with db.admin() as session:
        session.execute("DELETE FROM schema_migrations")
        for version, name in _SQUASHED:
            session.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (:v, :n, 'old')",
                {"v": version, "n": name},
            )
    with pytest.raises(MigrationError) as caught:
        migrate(db)
    message = str(caught.value)
    assert "\n" not in message
    assert "0000_roles.sql and 3 more" in message
    assert "cannot be upgraded in place" in message
    assert "auditlens export events --org ORG --format ndjson" in message
    assert "auditlens import FILE" in message
    # Nothing was applied over the old history.
    with db.admin() as session:
        assert session.scalar("SELECT count(*) FROM schema_migrations") == len(_SQUASHED)


def test_concurrent_migrations_of_a_fresh_database_both_succeed(pg_server):
    import psycopg

    name = "auditlens_test_concurrent_migrate"
    with pg_server.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    errors: list[BaseException] = []
    applied: list[list[str]] = []

    def run() -> None:
        db = Database(pg_server.url_for(name))
        try:
            applied.append(migrate(db))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pg_server.admin() as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert errors == []
    assert sorted(len(a) for a in applied) == [0, len(load_migrations())]
    assert isinstance(psycopg.__version__, str)


def test_badly_named_migration_file_is_an_error(tmp_path: Path):
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"0001_name\.sql: 1_oops\.sql"):
        load_migrations(tmp_path)


def test_roles_are_nologin(db: Database):
    with db.admin() as session:
        rows = session.execute(
            "SELECT rolname, rolcanlogin, rolbypassrls FROM pg_roles"
            " WHERE rolname LIKE 'auditlens\\_%' ORDER BY rolname"
        ).rows
    assert rows == [
        ("auditlens_org_scope", False, False),
        ("auditlens_owner", False, False),
        ("auditlens_reader", False, False),
        ("auditlens_writer", False, False),
    ]


def test_owner_owns_the_audit_tables(db: Database):
    with db.admin() as session:
        owners = session.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE tablename IN"
            " ('audit_events', 'audit_rejects', 'audit_exports', 'retention_policies')"
        ).rows
    assert {owner for _, owner in owners} == {"auditlens_owner"}
    assert len(owners) == 4


def test_rollup_tables_are_vacuumed_soon_after_changes(db: Database):
    """Every rollup table (not rollup_state) keeps its visibility map fresh."""
    with db.admin() as s:
        rows = s.execute(
            "SELECT relname, coalesce(reloptions, '{}') FROM pg_class"
            " WHERE relkind = 'r' AND relname LIKE 'rollup\\_%' AND relname <> 'rollup_state'"
        ).rows
    assert len(rows) >= 15
    for name, options in rows:
        assert "autovacuum_vacuum_threshold=1000" in options, name
        assert "autovacuum_vacuum_insert_threshold=1000" in options, name


def test_search_indexes_need_a_superuser_migration(db: Database):
    # The search migration marks its functions LEAKPROOF, which only a superuser may do: run by
    # a login that is not one, it folds emails without the mark and makes no trigram index, and
    # the capability says text search is unindexed (plain ILIKE).
    assert db.capabilities.trigram_search
    (search,) = [m for m in load_migrations() if m.name == "0006_search.sql"]
    login = f"auditlens_test_login_{uuid.uuid4().hex[:8]}"
    try:
        with db.admin() as session:
            session.execute("DROP INDEX audit_events_details_trgm")
            session.execute("DROP OPERATOR FAMILY auditlens_trgm_ops USING gin")
            session.execute("DROP OPERATOR ~~~* (text, text)")
            session.execute("DROP FUNCTION auditlens_text_ilike(text, text)")
            session.execute("DROP FUNCTION auditlens_details_text(jsonb)")
            session.execute("DROP INDEX audit_events_org_email_fold")
            session.execute("DROP FUNCTION auditlens_fold_email(text)")
            session.execute(f"CREATE ROLE {login} NOLOGIN NOSUPERUSER IN ROLE auditlens_owner")
            session.execute(f"GRANT CREATE ON SCHEMA public TO {login}")
            session.execute(f"SET LOCAL SESSION AUTHORIZATION {login}")
            driver = session.conn.connection.driver_connection
            assert driver is not None
            driver.execute(search.sql)
            leakproof = session.execute(
                "SELECT proname FROM pg_proc WHERE proname LIKE 'auditlens_%' AND proleakproof"
            ).rows
            fold_owner = session.scalar(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc"
                " WHERE proname = 'auditlens_fold_email'"
            )
            fold_index = session.scalar("SELECT to_regclass('audit_events_org_email_fold')")
    finally:
        with db.admin() as session:
            session.execute(f"DROP OWNED BY {login}")
            session.execute(f"DROP ROLE {login}")
    assert leakproof == []
    assert fold_owner == "auditlens_owner" and fold_index is not None
    assert not db.refresh_capabilities().trigram_search
    assert "text search unindexed" in db.capabilities.describe()
    # As the README says: a superuser applies the same file again and gets both indexes.
    with db.admin() as session:
        driver = session.conn.connection.driver_connection
        assert driver is not None
        driver.execute(search.sql)
        leakproof = session.execute(
            "SELECT proname FROM pg_proc WHERE proname LIKE 'auditlens_%' AND proleakproof"
            " ORDER BY proname"
        ).rows
    assert [name for (name,) in leakproof] == [
        "auditlens_details_text",
        "auditlens_fold_email",
        "auditlens_text_ilike",
    ]
    assert db.refresh_capabilities().trigram_search


def test_the_trigram_wrappers_are_priced_as_costly(db: Database):
    """Priced at their cost, so the planner prefers the trigram index to calling them on every
    event (the test server's login is a superuser: the search migration made them)."""
    with db.admin() as s:
        costs = dict(
            s.execute(
                "SELECT proname, procost FROM pg_proc"
                " WHERE proname IN ('auditlens_text_ilike', 'auditlens_details_text')"
            ).rows
        )
    assert costs == {"auditlens_text_ilike": 1000, "auditlens_details_text": 1000}
