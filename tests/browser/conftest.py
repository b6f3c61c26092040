"""Real-browser fixtures: the dashboard (`dashboard/server.py`'s app, served by
`streamlit run tests/browser/shared_server.py`) on a free port, one process per worker, each
test against a fresh database of its own; and Debian's Chromium driven by Playwright.

A missing Chromium is a failure, not a skip: CI (`.ci/run`) installs it, and a browser test
that silently does not run proves nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.run_command import APP_FILE, streamlit_command
from sql.gateway import Database
from sql.settings import DATABASE_URL_ENV
from tests.browser.reset import RESET_PATH, SESSIONS_GONE_SECONDS
from tests.conftest import TestServer, _gateway, create_clone
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SHARED_SERVER = Path(__file__).resolve().with_name("shared_server.py")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The dashboard is one origin with no frames: isolating sites would only start more
    # renderer processes.
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process",
]
STARTUP_SECONDS = 60


@dataclass
class Dashboard:
    url: str
    db: Database
    log: Path


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        # Polling a starting server: the wait is bounded and not what the test asserts on.
        time.sleep(0.2)
    raise RuntimeError(
        f"the dashboard did not answer within {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}"
    )


@dataclass
class SharedServer:
    """This worker's dashboard process, serving whatever its database name holds now."""

    url: str
    database: str  # the name each test's fresh copy of the template takes
    process: subprocess.Popen[bytes]
    log: Path


def _start_dashboard(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = streamlit_command("127.0.0.1", port)
    command[command.index(str(APP_FILE))] = str(SHARED_SERVER)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(url, process, log)
    except BaseException:
        _stop(process)
        raise
    return url, process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def shared_dashboard(pg_server: TestServer) -> Iterator[SharedServer]:
    """One dashboard process per worker for every browser test (see tests/browser/shared_server.py):
    starting Streamlit and loading its pages cost more than most of the tests."""
    database = f"auditlens_browser_{uuid.uuid4().hex[:12]}"
    create_clone(pg_server, database)
    env = dict(os.environ)
    url = pg_server.url_for(database)
    env[DATABASE_URL_ENV] = url.replace("postgresql+psycopg://", "postgresql://", 1)
    env["PYTHONPATH"] = str(ROOT)
    log = Path(tempfile.mkstemp(prefix="auditlens-dashboard-", suffix=".log")[1])
    try:
        address, process = _start_dashboard(env, log)
        try:
            yield SharedServer(address, database, process, log)
        finally:
            _stop(process)
    finally:
        log.unlink(missing_ok=True)
        with pg_server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _reset(server: SharedServer, pg_server: TestServer) -> None:
    """A fresh copy of the template under the server's database name, and nothing of the
    previous test left in the server. The old database goes first: its drop ends every
    connection to it, so a script run of the previous test still going can read nothing
    more, and what it cached is cleared after it."""
    if server.process.poll() is not None:
        raise RuntimeError(f"the shared dashboard has exited:\n{server.log.read_text()[-3000:]}")
    with pg_server.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')
    # Our own server's http:// URL.
    request = urllib.request.Request(f"{server.url}{RESET_PATH}", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=SESSIONS_GONE_SECONDS + 10) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the shared dashboard did not reset: {exc.read()!r}") from exc
    if json.loads(body) != {"active_sessions": 0}:
        raise RuntimeError(f"the shared dashboard did not reset: {body!r}")
    create_clone(pg_server, server.database)


@contextmanager
def fresh_database(server: SharedServer, pg_server: TestServer) -> Iterator[Database]:
    """The shared server reset (`_reset`), and a gateway to its fresh database."""
    _reset(server, pg_server)
    with _gateway(pg_server.url_for(server.database)) as db:
        yield db


@pytest.fixture
def dashboard(shared_dashboard: SharedServer, pg_server: TestServer) -> Iterator[Dashboard]:
    """The real dashboard process (this worker's, see `shared_dashboard`) serving a fresh
    database of this test's own, with nothing cached from an earlier test."""
    with fresh_database(shared_dashboard, pg_server) as db:
        yield Dashboard(url=shared_dashboard.url, db=db, log=shared_dashboard.log)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright; fails (never skips) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_context(chromium: Any) -> Any:
    """A fresh browser context (its own cookies, downloads allowed) whose actions and
    assertions wait 30 s."""
    from playwright.sync_api import expect

    context = chromium.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    # `expect` keeps its own 5 s default; on a loaded machine a rerun takes longer than that,
    # so assertions wait for their condition as long as actions do.
    expect.set_options(timeout=30_000)
    return context


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh browser context (`new_context`)."""
    context = new_context(chromium)
    try:
        yield context.new_page()
    finally:
        context.close()
