"""Clear failures: one line saying what is wrong and what to do, non-zero exit, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from sql import capabilities as caps_module
from sql.errors import (
    ConfigurationError,
    PermissionMissing,
    QueryTimeout,
    ServerTooOld,
    ServerUnavailable,
)
from sql.gateway import Database, sqlalchemy_url
from tests.ports import free_port
from tests.run_cli import run_cli


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db", "postgresql://u@h:99999/db"])
def test_malformed_url_is_a_configuration_error(url: str):
    with pytest.raises(ConfigurationError, match="AUDITLENS_DATABASE_URL"):
        sqlalchemy_url(url)


def test_unreachable_server_names_host_and_port():
    port = free_port()
    db = Database(f"postgresql://nobody@127.0.0.1:{port}/x")
    with pytest.raises(ServerUnavailable, match=f"127.0.0.1:{port}"):
        db.check_server()


def test_server_older_than_15_is_refused(db: Database, monkeypatch: pytest.MonkeyPatch):
    from sql import gateway

    monkeypatch.setattr(gateway, "MIN_SERVER_VERSION", 10_000_000)
    with pytest.raises(ServerTooOld, match="needs PostgreSQL 15 or newer"):
        db.check_server()
    assert caps_module.MIN_SERVER_VERSION == 150000


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A real `auditlens` process: what its user sees of a failure is the contract here."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@h/db", "must be a postgresql:// URL"),
        (
            "postgresql://nobody@127.0.0.1:{port}/x",
            "cannot connect to PostgreSQL at 127.0.0.1:{port}",
        ),
    ],
)
def test_cli_prints_one_line_and_exits_non_zero(url: str, expected: str):
    port = free_port()
    result = _cli("migrate", env={"AUDITLENS_DATABASE_URL": url.format(port=port)})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected.format(port=port) in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_bad_setting_is_named(db: Database):
    result = run_cli(
        "migrate", env={"AUDITLENS_DATABASE_URL": db.url, "AUDITLENS_STATEMENT_TIMEOUT_MS": "soon"}
    )
    assert result.returncode != 0
    assert "AUDITLENS_STATEMENT_TIMEOUT_MS must be a whole number" in result.stderr


def test_cli_migrate_against_a_real_database(db: Database):
    result = run_cli("migrate", env={"AUDITLENS_DATABASE_URL": db.url})
    assert result.returncode == 0, result.stderr
    assert "0 migration(s) applied" in result.stdout


def _through_the_driver(transaction: Any, sql: str, what: str | None = None) -> None:
    with transaction as session, session.raw_connection(sql, what=what) as driver:
        driver.execute(sql)


def test_the_driver_inside_a_session_fails_the_gateways_way(db: Database):
    # What goes around SQLAlchemy (binary COPY, single-row streams) still gets named errors.
    slow = "SELECT pg_sleep(5)"
    with pytest.raises(QueryTimeout, match=r"^the slow scan ran past its time limit$"):
        _through_the_driver(db.admin(timeout_ms=10), slow, "the slow scan")
    with pytest.raises(QueryTimeout, match=r"^query ran past its time limit: SELECT pg_sleep"):
        _through_the_driver(db.admin(timeout_ms=10), slow)
    with pytest.raises(PermissionMissing, match="permission denied"):
        _through_the_driver(db.org_session("org_a"), "DELETE FROM schema_migrations")
    # Anything else is the driver's own error, unchanged.
    with pytest.raises(psycopg.errors.DivisionByZero):
        _through_the_driver(db.admin(), "SELECT 1/0")
