"""A real hot standby of the test server: `pg_basebackup -R` of this process's server (each
xdist worker has its own), started on its own socket, one per test module (a standby copies a
whole cluster, so every database the module's tests clone on the primary appears on it).

A module that asks for `standby` and cannot start one fails: it never skips.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy.engine import make_url

from sql.embedded import EmbeddedPostgres, find_server_binaries
from sql.gateway import Database
from tests.conftest import TestServer, _new_data_dir, _test_settings

REPLAY_DEADLINE_SECONDS = 60


@dataclass
class StandbyServer:
    primary: TestServer
    embedded: EmbeddedPostgres

    def url_for(self, database: str) -> str:
        """The standby's URL of `database` (same name, login role and options as on the
        primary; only the socket differs)."""
        return make_url(self.embedded.url(database)).render_as_string(hide_password=False)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.embedded.url("postgres"), autocommit=True)

    def flush_primary(self) -> str:
        """Makes the primary write out all the WAL it has inserted; returns that position.

        Test servers commit asynchronously, so a commit can lie past the written position
        (what `pg_current_wal_lsn()` reports, and all a standby is sent) until the WAL
        writer's next round, which a busy machine delays. A synchronous commit after it
        writes the WAL through the target at once, if that commit wrote WAL of its own (one
        that only took an xid commits asynchronously anyway): hence the logged message."""
        with self.primary.admin() as conn:
            target = str(conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0])  # type: ignore[index]
            conn.execute("SET synchronous_commit = on")
            conn.execute("SELECT pg_logical_emit_message(true, 'auditlens-test', 'flush')")
        return target

    def wait_for_replay(self) -> str:
        """Until the standby has replayed everything the primary has written so far; returns
        that position. Polls the standby's replay position against the primary's, with a
        deadline, so a standby that stopped replaying fails the test with both positions."""
        target = self.flush_primary()
        deadline = time.monotonic() + REPLAY_DEADLINE_SECONDS
        with self.admin() as conn:
            while True:
                done, replayed = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, pg_last_wal_replay_lsn()::text",
                    (target,),
                ).fetchone()  # type: ignore[misc]
                if done:
                    return target
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the standby replayed {replayed}, not {target}, in "
                        f"{REPLAY_DEADLINE_SECONDS}s"
                    )
                time.sleep(0.005)

    def pause_replay(self) -> None:
        """Replay stopped: returns once the standby says so. A pause is only a request, and
        replay goes on to the next point that honours it; a write made before then reached
        the standby anyway (seen as a lag of 0 bytes with replay "paused")."""
        deadline = time.monotonic() + REPLAY_DEADLINE_SECONDS
        with self.admin() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            while True:
                row = conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()
                if row is not None and row[0] == "paused":
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the standby's replay is {row}, not paused, after"
                        f" {REPLAY_DEADLINE_SECONDS}s"
                    )
                time.sleep(0.005)

    def resume_replay(self) -> None:
        with self.admin() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def configure(self, setting: str, value: str | None) -> None:
        """Change one of the standby's settings (None: back to its default), reloaded."""
        with self.admin() as conn:
            if value is None:
                conn.execute(f"ALTER SYSTEM RESET {setting}")
            else:
                conn.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")


def _base_backup_program() -> str:
    # pg_ctl may be a link on PATH into the installation, which also holds pg_basebackup.
    installed = (find_server_binaries() / "pg_ctl").resolve().parent / "pg_basebackup"
    program = str(installed) if installed.exists() else shutil.which("pg_basebackup")
    if program is None:
        raise RuntimeError("pg_basebackup not found next to pg_ctl nor on PATH")
    return program


def _server_account() -> tuple[int, int]:
    """The account the embedded server runs as: ours, or as root (which PostgreSQL refuses)
    'postgres', else 'nobody' (as `sql.embedded` chooses)."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run a standby")


def start_standby(primary: TestServer) -> StandbyServer:
    """A streaming hot standby of `primary`, started and caught up. An external test server
    (AUDITLENS_TEST_DATABASE_URL) must allow its superuser a replication connection, and keep
    its configuration in its data folder (the standby starts from a copy of it)."""
    embedded = EmbeddedPostgres(_new_data_dir(), fast_unsafe=True)
    # The standby's files belong to the account that will run it (PostgreSQL refuses root),
    # so pg_basebackup runs as that account into an empty folder it owns.
    uid, gid = _server_account()
    embedded.pgdata.mkdir(mode=0o700, parents=True)
    os.chown(embedded.pgdata, uid, gid)
    result = subprocess.run(
        [
            _base_backup_program(),
            "--pgdata",
            str(embedded.pgdata),
            "--write-recovery-conf",  # -R: standby.signal and primary_conninfo
            "--wal-method=stream",
            "--checkpoint=fast",  # a spread checkpoint would make the backup wait minutes
            "--no-sync",
            "--dbname",
            primary.admin_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
        user=uid,
        group=gid,
        extra_groups=[] if os.geteuid() == 0 else None,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_basebackup failed: {result.stderr.strip()}")
    with (embedded.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\nhot_standby = on\n")
    embedded.start()
    standby = StandbyServer(primary, embedded)
    standby.wait_for_replay()
    return standby


@pytest.fixture(scope="module")
def standby(pg_server: TestServer) -> Iterator[StandbyServer]:
    """This module's hot standby of the test server (stopped and removed after it)."""
    server = start_standby(pg_server)
    try:
        yield server
    finally:
        server.embedded.stop()
        shutil.rmtree(server.embedded.data_dir, ignore_errors=True)


@dataclass
class ReplicaPair:
    """One test database on the primary, and gateways to it with and without the standby."""

    standby: StandbyServer
    name: str
    primary: Database  # every read on the primary
    replica: Database  # reads that may lag on the standby

    def sync(self) -> None:
        self.standby.wait_for_replay()


@pytest.fixture
def pair(standby: StandbyServer, fresh_database: str) -> Iterator[ReplicaPair]:
    name = make_url(fresh_database).database
    assert name is not None
    standby.wait_for_replay()  # the clone exists on the standby
    primary = Database(fresh_database, _test_settings())
    replica = Database(fresh_database, _test_settings(), read_url=standby.url_for(name))
    try:
        yield ReplicaPair(standby, name, primary, replica)
    finally:
        primary.close()
        replica.close()
