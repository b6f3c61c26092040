"""Test fixtures that start the real thing: a throwaway PostgreSQL per test run, a migrated
template database, and a fresh database cloned from it for every test that asks for `db`.

Set AUDITLENS_TEST_DATABASE_URL to a superuser URL to run against an external server (for
example TimescaleDB); each run creates and drops its own databases there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from sql.capabilities import Capabilities
from sql.embedded import EmbeddedPostgres
from sql.gateway import Database
from sql.migrate import migrate
from sql.settings import Settings

TEST_URL_ENV = "AUDITLENS_TEST_DATABASE_URL"


@dataclass
class TestServer:
    admin_url: str  # a superuser URL to the maintenance database
    template: str
    capabilities: Capabilities
    embedded: EmbeddedPostgres | None

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True)


_server: TestServer | None = None


def _start_server() -> TestServer:
    global _server
    if _server is not None:
        return _server
    external = os.environ.get(TEST_URL_ENV)
    embedded = None
    if external:
        admin_url = external
    else:
        # Not under pytest's tmp dirs: those are 0700 and the server may run as 'postgres'.
        data_dir = Path(tempfile.mkdtemp(prefix="auditlens-test-pg-"))
        data_dir.chmod(0o755)
        embedded = EmbeddedPostgres(data_dir, fast_unsafe=True)
        admin_url = embedded.start().replace("/auditlens?", "/postgres?")
    template = f"auditlens_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{template}"')
    server = TestServer(admin_url, template, None, embedded)  # type: ignore[arg-type]
    db = Database(server.url_for(template), _test_settings())
    migrate(db)
    server.capabilities = db.capabilities
    db.close()
    _server = server
    return server


def _test_settings() -> Settings:
    return Settings(database_url=None, data_dir=Path(tempfile.gettempdir()), max_rows=10_000)


def _stop_server() -> None:
    global _server
    if _server is None:
        return
    with _server.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_server.template}" WITH (FORCE)')
    if _server.embedded is not None:
        _server.embedded.stop()
        shutil.rmtree(_server.embedded.data_dir, ignore_errors=True)
    _server = None


def pytest_report_header(config: pytest.Config) -> list[str]:
    server = _start_server()
    where = "external server" if server.embedded is None else "throwaway embedded server"
    return [f"database: {server.capabilities.describe()} ({where})"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_server()


@pytest.fixture(scope="session")
def pg_server() -> TestServer:
    return _start_server()


@pytest.fixture
def fresh_database(pg_server: TestServer) -> Iterator[str]:
    """The URL of a new database cloned from the migrated template, dropped afterwards."""
    name = f"auditlens_test_{uuid.uuid4().hex[:12]}"
    with pg_server.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_server.template}"')
    try:
        yield pg_server.url_for(name)
    finally:
        with pg_server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(fresh_database: str) -> Iterator[Database]:
    """A migrated database of this test's own, through the gateway."""
    database = Database(fresh_database, _test_settings())
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def capabilities(pg_server: TestServer) -> Capabilities:
    return pg_server.capabilities


@pytest.fixture
def timescale_only(capabilities: Capabilities) -> None:
    """The only conditional tests: they need TimescaleDB on the test server."""
    if not capabilities.hypertables:
        pytest.skip(f"needs TimescaleDB; the test server is {capabilities.describe()}")
