"""AUDITLENS_TRUSTED_PROXIES is read once, when the server starts: a malformed value stops
`serve-ingest` (and `install_read_api`) with one line naming the variable and the bad entry,
instead of failing every API read with a 500 later."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ingest.keys import READ, create_key
from ingest.middleware import TRUSTED_PROXIES_ENV, TrustedProxiesError
from sql.gateway import Database
from streaming.read_api import install_read_api
from tests.run_cli import run_cli

BAD = "10.0.0.0/8, proxy.example.com"


def test_a_malformed_value_stops_the_read_api_at_install(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TRUSTED_PROXIES_ENV, BAD)
    with pytest.raises(TrustedProxiesError) as raised:
        install_read_api(FastAPI(), db)
    message = str(raised.value)
    assert TRUSTED_PROXIES_ENV in message and "'proxy.example.com'" in message
    assert "\n" not in message


def test_the_value_read_at_install_is_the_one_used(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TRUSTED_PROXIES_ENV, "127.0.0.1, testclient")
    with pytest.raises(TrustedProxiesError):
        install_read_api(FastAPI(), db)
    monkeypatch.delenv(TRUSTED_PROXIES_ENV)
    app = FastAPI()
    install_read_api(app, db)
    token = create_key(db, "org_a", actor="test", scope=READ).token
    monkeypatch.setenv(TRUSTED_PROXIES_ENV, BAD)  # changed later: not read per request
    answer = TestClient(app).get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


# A command that got past the check would serve on the test's thread: fail it, do not hang.
@pytest.mark.timeout(120)
def test_serve_ingest_refuses_a_malformed_value_before_it_starts(tmp_path: Path) -> None:
    # No server listens on port 1: a command that got as far as the database would say so.
    env = {
        TRUSTED_PROXIES_ENV: BAD,
        "AUDITLENS_DATABASE_URL": "postgresql+psycopg://auditlens@127.0.0.1:1/auditlens",
        "AUDITLENS_DATA_DIR": str(tmp_path),
    }
    result = run_cli("serve-ingest", "--port", "1", env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlens: error:"), result.stderr
    assert TRUSTED_PROXIES_ENV in lines[0] and "'proxy.example.com'" in lines[0]
