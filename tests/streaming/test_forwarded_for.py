"""The address an API read is audited with: `serve-ingest` believes X-Forwarded-For only from
the proxies the operator names (AUDITLENS_TRUSTED_PROXIES), none by default, so a client on
the same machine cannot put another address into the audit trail."""

from __future__ import annotations

import http.client
import threading
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from ingest.keys import READ, create_key
from ingest.middleware import TRUSTED_PROXIES_ENV
from sql.gateway import Database
from tests.streaming.rsyslog import free_port

FORGED = "203.0.113.66"


def read_through_serve_ingest(
    db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> str | None:
    """GET /api/v1/events from 127.0.0.1 with a forged X-Forwarded-For through the server
    `auditlens serve-ingest` configures; the address its api_read event recorded."""
    import uvicorn

    token = create_key(db, "org_a", actor="test", scope=READ).token
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    monkeypatch.setenv("AUDITLENS_DATA_DIR", str(tmp_path / "data"))
    port = free_port()
    answers: list[int] = []

    def serve(served: Any, **options: Any) -> None:  # as the command asked, then stopped
        server = uvicorn.Server(uvicorn.Config(served, **options))
        # In a thread of its own: the test's thread may already run an event loop (a browser
        # test's Playwright, earlier in the same worker), and asyncio refuses a second one.
        running = threading.Thread(target=server.run, daemon=True)
        running.start()
        try:
            while not server.started and running.is_alive():
                threading.Event().wait(0.05)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request(
                "GET",
                "/api/v1/events",
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": FORGED},
            )
            answers.append(conn.getresponse().status)
        finally:
            server.should_exit = True
            running.join(60)

    monkeypatch.setattr(uvicorn, "run", serve)
    result = CliRunner().invoke(app, ["serve-ingest", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert answers == [200]
    with db.org_session("org_a") as session:
        return session.scalar(
            "SELECT host(ip_address) FROM org_audit_events WHERE event_action = 'api_read'"
        )


def test_a_local_client_cannot_forge_its_audited_address(
    db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv(TRUSTED_PROXIES_ENV, raising=False)
    assert read_through_serve_ingest(db, monkeypatch, tmp_path) == "127.0.0.1"


def test_a_proxy_the_operator_names_forwards_the_clients_address(
    db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv(TRUSTED_PROXIES_ENV, "127.0.0.1")
    assert read_through_serve_ingest(db, monkeypatch, tmp_path) == FORGED
