"""Test fixtures that start the real thing: a throwaway PostgreSQL per test run, a migrated
template database, and a fresh database cloned from it for every test that asks for `db`.

Set AUDITLENS_TEST_DATABASE_URL to a superuser URL to run against an external server (for
example TimescaleDB); each run creates and drops its own databases there.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from sql.capabilities import Capabilities, Flavor
from sql.embedded import EmbeddedPostgres
from sql.gateway import Database
from sql.migrate import migrate
from sql.settings import Settings
from tests import xdist_groups

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


# Where the throwaway clusters go when it has room for a worker's cluster (its WAL included)
# per core: a container's default 64 MB /dev/shm does not, and then they stay on disk. Each
# cluster gets a folder of its own from mkdtemp, so the shared parent is safe (S108).
MEMORY_FS = "/dev/shm"  # noqa: S108
MEMORY_FS_MIN_FREE = 2 * 1024**3 * (os.cpu_count() or 1)

_server: TestServer | None = None
# The controller's stopped, migrated cluster that every xdist worker copies (embedded only).
_seed: TestServer | None = None
WORKERINPUT_KEY = "auditlens_test_seed"


def _start_server(config: pytest.Config | None = None) -> TestServer:
    """This process's server, started once. An xdist worker starts a copy of the controller's
    migrated cluster (`_seed_for_workers`) instead of migrating a template of its own."""
    global _server
    if _server is not None:
        return _server
    seed = getattr(config, "workerinput", {}).get(WORKERINPUT_KEY) if config else None
    if seed is not None:
        _server = _start_copy(seed)
        return _server
    external = os.environ.get(TEST_URL_ENV)
    embedded = None
    if external:
        admin_url = external
    else:
        embedded = EmbeddedPostgres(_new_data_dir(), fast_unsafe=True)
        admin_url = _admin_url(embedded.start())
    template = f"auditlens_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{template}"')
    server = TestServer(admin_url, template, None, embedded)  # type: ignore[arg-type]
    db = Database(server.url_for(template), _test_settings())
    migrate(db)
    server.capabilities = db.capabilities
    db.close()
    _close_template(server)
    _server = server
    return server


def _close_template(server: TestServer) -> None:
    """Leave the template with no session and accepting none: CREATE DATABASE ... TEMPLATE
    refuses a source anyone is connected to. TimescaleDB's launcher starts a scheduler in
    every database that has the extension (and skips those that allow no connections);
    stopping it through TimescaleDB's own function waits until it has exited and keeps it
    stopped, where terminating it would race with its restart."""
    if server.capabilities.hypertables:
        with psycopg.connect(server.url_for(server.template), autocommit=True) as conn:
            conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
    with server.admin() as conn:
        conn.execute(f'ALTER DATABASE "{server.template}" WITH ALLOW_CONNECTIONS false')
        # A session that has just closed leaves pg_stat_activity a moment later.
        for _ in range(100):
            others = conn.execute(
                "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s",
                (server.template,),
            ).fetchall()
            if not others:
                return
            time.sleep(0.1)
    raise RuntimeError(f"the test template {server.template} is still in use: {others}")


def _new_data_dir() -> Path:
    # Not under pytest's tmp dirs: those are 0700 and the server may run as 'postgres'.
    data_dir = Path(tempfile.mkdtemp(prefix="auditlens-test-pg-", dir=_memory_dir()))
    data_dir.chmod(0o755)
    return data_dir


def _memory_dir() -> str | None:
    """A memory-backed folder for the throwaway clusters when there is room, else None (the
    temporary folder). Every test's database is a copy of the template's ~1,200 files; on a
    disk file system creating and deleting them costs the kernel ten times what it costs in
    memory, and that was most of each test's setup."""
    try:
        stat = os.statvfs(MEMORY_FS)
    except OSError:
        return None
    free = stat.f_bavail * stat.f_frsize
    return MEMORY_FS if free >= MEMORY_FS_MIN_FREE and os.access(MEMORY_FS, os.W_OK) else None


def _admin_url(url: str) -> str:
    return url.replace("/auditlens?", "/postgres?")


def _seed_for_workers(config: pytest.Config) -> dict[str, object]:
    """The controller's migrated cluster, stopped so that workers can copy its files.

    Each worker runs its own copy rather than sharing one server: the read model's watermark
    is the cluster-wide oldest running transaction, so one worker's open transaction would
    change what another worker's refresh rolls up."""
    global _server, _seed
    if _seed is None:
        _seed = _start_server(config)
        _server = None
        assert _seed.embedded is not None  # an external server runs the tests in one process
        _seed.embedded.stop()
    assert _seed.embedded is not None
    caps = dataclasses.asdict(_seed.capabilities)
    caps["flavor"] = _seed.capabilities.flavor.value
    return {
        "pgdata": str(_seed.embedded.pgdata),
        "template": _seed.template,
        "capabilities": caps,
    }


def _start_copy(seed: dict[str, Any]) -> TestServer:
    data_dir = _new_data_dir()
    embedded = EmbeddedPostgres(data_dir, fast_unsafe=True)
    # cp -a keeps the files' owner: the server may run as 'postgres' while we are root.
    subprocess.run(["/bin/cp", "-a", seed["pgdata"], str(embedded.pgdata)], check=True)
    admin_url = _admin_url(embedded.start())
    caps = dict(seed["capabilities"])
    caps["flavor"] = Flavor(caps["flavor"])
    return TestServer(admin_url, seed["template"], Capabilities(**caps), embedded)


def _test_settings() -> Settings:
    return Settings(database_url=None, data_dir=Path(tempfile.gettempdir()), max_rows=10_000)


def _stop_server() -> None:
    global _server, _seed
    if _server is not None:
        with _server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_server.template}" WITH (FORCE)')
        _remove_embedded(_server)
        _server = None
    if _seed is not None:
        _remove_embedded(_seed)
        _seed = None


def _remove_embedded(server: TestServer) -> None:
    if server.embedded is not None:
        server.embedded.stop()
        shutil.rmtree(server.embedded.data_dir, ignore_errors=True)


def _collect_only(config: pytest.Config) -> bool:
    return bool(config.option.collectonly)


def pytest_report_header(config: pytest.Config) -> list[str]:
    # Listing the tests needs no server; a run prints the one its tests will use.
    if _collect_only(config):
        return ["database: not started (--collect-only)"]
    server = _seed or _start_server(config)
    if server.embedded is None:
        where = "external server"
    elif _seed is not None or getattr(config.option, "numprocesses", None):
        where = "a throwaway embedded server per xdist worker"
    else:
        where = "throwaway embedded server"
    return [f"database: {server.capabilities.describe()} ({where})"]


def pytest_configure(config: pytest.Config) -> None:
    """Fewer collector passes, and what collection imported frozen out of them
    (`pytest_collection_finish`): a test process holds pandas, scikit-learn, Streamlit and
    every test module, and the default thresholds walk all of it over and over."""
    gc.set_threshold(50_000, 20, 100)
    _cheap_password_hashes()


def _cheap_password_hashes() -> None:
    """Accounts made by tests get argon2id hashes at the lowest cost argon2 allows. At the
    product's cost (`accounts.PASSWORD_PARAMETERS`) a hash or a check is about 0.2 CPU-s,
    and the suite makes a few hundred of them (Django's documentation advises the same for
    its tests). A check reads the cost from the hash, so a dashboard process checks these
    cheaply too; tests/usecases/test_accounts.py checks what the product itself stores."""
    from argon2 import PasswordHasher, profiles

    from usecases import accounts

    accounts._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)


def pytest_collection_finish(session: pytest.Session) -> None:
    _scan_streamlit_components_once()
    gc.collect()
    gc.freeze()


def _scan_streamlit_components_once() -> None:
    """Every AppTest scans the metadata of every installed distribution for Streamlit
    components on its first run (about 0.1 CPU-s, in a suite of hundreds of AppTests); the
    installed distributions do not change while the tests run. Only where the collected
    tests imported Streamlit: the xdist controller runs none."""
    if "streamlit" not in sys.modules:
        return
    from streamlit.components.v2 import manifest_scanner

    scan = manifest_scanner.scan_component_manifests
    if not hasattr(scan, "cache_info"):
        manifest_scanner.scan_component_manifests = functools.cache(scan)  # type: ignore[assignment]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` against an external server runs in one process (see `_seed_for_workers`)."""
    return 0 if os.environ.get(TEST_URL_ENV) else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: migrate once, and give every worker the cluster to copy."""
    if _collect_only(node.config):
        return
    if os.environ.get(TEST_URL_ENV):
        raise pytest.UsageError(
            f"{TEST_URL_ENV}: an external server runs the tests in one process (-n 0)"
        )
    node.workerinput[WORKERINPUT_KEY] = _seed_for_workers(node.config)
    node.workerinput[xdist_groups.WORKERINPUT_KEY] = str(xdist_groups.groups_dir())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests go first, so that no worker starts one while the others run out of work;
    under xdist, each worker tells the scheduler which tests must share a worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    xdist_groups.write_groups(config, items)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    return xdist_groups.make_scheduler(config, log)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_server()
    xdist_groups.remove_groups_dir()


@pytest.fixture(scope="session")
def pg_server(pytestconfig: pytest.Config) -> TestServer:
    return _start_server(pytestconfig)


@contextmanager
def _cloned_database(server: TestServer) -> Iterator[str]:
    """The URL of a new database cloned from the migrated template, dropped afterwards."""
    name = f"auditlens_test_{uuid.uuid4().hex[:12]}"
    create_clone(server, name)
    try:
        yield server.url_for(name)
    finally:
        with server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_clone(server: TestServer, name: str) -> None:
    """A new database `name`, a copy of the migrated template."""
    with server.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{server.template}"{_strategy(server)}')


def _strategy(server: TestServer) -> str:
    """In memory, copying the template's files (and checkpointing, which costs little with
    fsync off) takes about half the CPU of writing each page to the WAL, the default since
    PostgreSQL 15; on disk it is the other way round."""
    embedded = server.embedded
    in_memory = embedded is not None and embedded.data_dir.is_relative_to(MEMORY_FS)
    if in_memory and server.capabilities.server_version_num >= 150000:
        return " STRATEGY FILE_COPY"
    return ""


@contextmanager
def _gateway(url: str) -> Iterator[Database]:
    database = Database(url, _test_settings())
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def fresh_database(pg_server: TestServer) -> Iterator[str]:
    """The URL of a new database cloned from the migrated template, dropped afterwards."""
    with _cloned_database(pg_server) as url:
        yield url


@pytest.fixture
def db(fresh_database: str) -> Iterator[Database]:
    """A migrated database of this test's own, through the gateway."""
    with _gateway(fresh_database) as database:
        yield database


@pytest.fixture(scope="module")
def module_db(pg_server: TestServer) -> Iterator[Database]:
    """A migrated database one test module shares: for data its tests only read (a fixture
    seeding it should check at teardown that they did not change it)."""
    with _cloned_database(pg_server) as url, _gateway(url) as database:
        yield database


@pytest.fixture
def capabilities(pg_server: TestServer) -> Capabilities:
    return pg_server.capabilities


@pytest.fixture
def timescale_only(capabilities: Capabilities) -> None:
    """The only conditional tests: they need TimescaleDB on the test server."""
    if not capabilities.hypertables:
        pytest.skip(f"needs TimescaleDB; the test server is {capabilities.describe()}")


@pytest.fixture
def compression_only(capabilities: Capabilities) -> None:
    """TimescaleDB tests of compressed chunks: they need the Timescale license's compression."""
    if not capabilities.compression:
        pytest.skip(f"needs TimescaleDB compression; the test server is {capabilities.describe()}")
