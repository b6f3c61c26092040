"""ASGI and WSGI middleware: one api_call event per request, trusted-proxy X-Forwarded-For,
and a broken callback or logger never breaks the request."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ingest import AuditLogger
from ingest.middleware import (
    TRUSTED_PROXIES_ENV,
    AuditASGIMiddleware,
    AuditWSGIMiddleware,
    TrustedProxiesError,
    client_ip,
    parse_networks,
)
from tests.ingest.flushing import flushed


def events(db):
    with db.org_session("org_a") as s:
        return s.execute(
            "SELECT event_action, resource_id, host(ip_address), user_id, details"
            " FROM org_audit_events ORDER BY ingest_seq"
        ).rows


def test_forwarded_for_is_honoured_only_from_trusted_proxies():
    trusted = parse_networks("10.0.0.0/8, 192.168.1.1")
    assert client_ip("10.0.0.5", "203.0.113.7, 10.0.0.9", trusted) == "203.0.113.7"
    assert client_ip("198.51.100.1", "203.0.113.7", trusted) == "198.51.100.1"
    assert client_ip("10.0.0.5", "evil, 203.0.113.7", trusted) == "203.0.113.7"
    assert client_ip("10.0.0.5", "1.1.1.1, garbage", trusted) == "10.0.0.5"
    assert client_ip("10.0.0.5", "203.0.113.7", []) == "10.0.0.5"


def test_a_malformed_trusted_proxy_is_refused_when_the_middleware_is_built(monkeypatch, tmp_path):
    logger = AuditLogger(None, spool_dir=tmp_path, organization_id="org_a", close_at_exit=False)
    monkeypatch.setenv(TRUSTED_PROXIES_ENV, "10.0.0.1,10.0.0.300")
    with pytest.raises(TrustedProxiesError, match=f"^{TRUSTED_PROXIES_ENV}: .*'10.0.0.300'"):
        AuditASGIMiddleware(FastAPI(), logger)
    # Given as the argument, the message names the argument, not the variable.
    with pytest.raises(TrustedProxiesError, match=r"^trusted_proxies: .*'proxy'"):
        AuditWSGIMiddleware(lambda e, s: [], logger, trusted_proxies=["10.0.0.1", "proxy"])
    logger.close()


def test_asgi_records_each_call_and_survives_failures(db, tmp_path):
    api = FastAPI()

    @api.get("/v1/logs/{source}")
    def logs(source: str):
        return {"source": source}

    @api.get("/boom")
    def boom():
        raise RuntimeError("app failure")

    logger = AuditLogger(db, spool_dir=tmp_path, organization_id="org_a", close_at_exit=False)

    def bad_user(scope):
        raise ValueError("callback failure")

    app = AuditASGIMiddleware(
        api, logger, user=lambda scope: ("u1", "u1@x.com"), trusted_proxies=["127.0.0.0/8"]
    )
    client = TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 5000))
    assert (
        client.get("/v1/logs/prod", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    )
    assert client.get("/boom").status_code == 500
    broken = TestClient(AuditASGIMiddleware(api, logger, user=bad_user))
    assert broken.get("/v1/logs/x").json() == {"source": "x"}
    flushed(logger, db, 30)
    logger.close()
    rows = {r[1]: r for r in events(db)}
    assert sorted(rows) == ["/boom", "/v1/logs/prod", "/v1/logs/x"]
    assert {r[0] for r in rows.values()} == {"GET"}
    prod, failed, x = rows["/v1/logs/prod"], rows["/boom"], rows["/v1/logs/x"]
    assert prod[4]["status"] == 200 and failed[4]["status"] == 500
    assert prod[3] == "u1" and x[3] is None
    assert prod[2] == "203.0.113.9"  # from X-Forwarded-For, the peer being a trusted proxy
    assert x[2] is None  # the test client's peer is no address


def test_wsgi_records_each_call(db, tmp_path):
    def app(environ, start_response):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"nope"]

    logger = AuditLogger(db, spool_dir=tmp_path, organization_id="org_a", close_at_exit=False)
    wrapped = AuditWSGIMiddleware(app, logger, trusted_proxies="10.0.0.1")
    environ = {
        "REQUEST_METHOD": "DELETE",
        "PATH_INFO": "/v1/sources/s1",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_X_FORWARDED_FOR": "198.51.100.4",
        "HTTP_USER_AGENT": "curl/8",
    }
    statuses = []
    body = wrapped(environ, lambda status, headers, exc=None: statuses.append(status))
    assert b"".join(body) == b"nope"
    body.close()
    flushed(logger, db, 30)
    logger.close()
    [(action, path, ip, _, details)] = events(db)
    assert (action, path, ip, details["status"]) == (
        "DELETE",
        "/v1/sources/s1",
        "198.51.100.4",
        404,
    )


def test_a_dead_logger_does_not_break_the_request(tmp_path, db):
    logger = AuditLogger(db, spool_dir=tmp_path, organization_id="org_a", close_at_exit=False)
    logger.close()
    logger.log_event = None  # type: ignore[assignment]  # calling it would raise TypeError
    api = FastAPI()

    @api.get("/")
    def root():
        return "ok"

    assert TestClient(AuditASGIMiddleware(api, logger)).get("/").json() == "ok"
