"""Real-browser fixtures: the dashboard (`streamlit run dashboard/server.py`) on a free port
against the test's own database, and Debian's Chromium driven by Playwright.

A missing Chromium is a failure, not a skip: CI (`.ci/run`) installs it, and a browser test
that silently does not run proves nothing.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.run_command import streamlit_command
from sql.gateway import Database
from sql.settings import DATABASE_URL_ENV
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
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


@pytest.fixture
def dashboard(db: Database) -> Iterator[Dashboard]:
    """The real dashboard process serving the test database; stopped after the test."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env[DATABASE_URL_ENV] = db.url.replace("postgresql+psycopg://", "postgresql://", 1)
    env["PYTHONPATH"] = str(ROOT)
    log = Path(tempfile.mkstemp(prefix="auditlens-dashboard-", suffix=".log")[1])
    command = streamlit_command("127.0.0.1", port)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(url, process, log)
        yield Dashboard(url=url, db=db, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.unlink(missing_ok=True)


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


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies, downloads allowed) and page."""
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    from playwright.sync_api import expect

    # `expect` keeps its own 5 s default; on a loaded machine a rerun takes longer than that,
    # so assertions wait for their condition as long as actions do.
    expect.set_options(timeout=30_000)
    try:
        yield context.new_page()
    finally:
        context.close()
