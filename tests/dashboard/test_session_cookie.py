"""The session cookie: one-time tickets, the two HTTP routes (HttpOnly, SameSite=Strict,
no cross-site use), and the pages signing a viewer in from the cookie alone (what a reload
or a new tab sends), never from a revoked or expired one."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard import session_cookie
from dashboard.context import SESSION_TOKEN_KEY
from dashboard.markdown_text import md
from tests.dashboard.conftest import page_test
from usecases import accounts

HEADERS = {session_cookie.REQUEST_HEADER: "1"}


@pytest.fixture
def client() -> TestClient:
    return TestClient(Starlette(routes=session_cookie.cookie_routes()))


def test_a_ticket_is_traded_once_for_an_httponly_strict_cookie(client):
    ticket = session_cookie.issue_ticket("tok-123", 3600)
    assert session_cookie.ticket_pending(ticket)
    response = client.post(session_cookie.SESSION_PATH, json={"ticket": ticket}, headers=HEADERS)
    assert response.status_code == 204
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{session_cookie.COOKIE_NAME}=tok-123;")
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
    assert "Max-Age=3600" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # plain http (tests); https adds it
    assert not session_cookie.ticket_pending(ticket)
    again = client.post(session_cookie.SESSION_PATH, json={"ticket": ticket}, headers=HEADERS)
    assert again.status_code == 400 and "set-cookie" not in again.headers


def test_https_behind_a_proxy_marks_the_cookie_secure(client):
    ticket = session_cookie.issue_ticket("tok-456", 60)
    response = client.post(
        session_cookie.SESSION_PATH,
        json={"ticket": ticket},
        headers={**HEADERS, "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 204 and "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a plain cross-site form post cannot add the header
        {**HEADERS, "Origin": "https://evil.example"},
    ],
)
def test_cross_site_requests_are_refused(client, headers):
    ticket = session_cookie.issue_ticket("tok-789", 60)
    response = client.post(session_cookie.SESSION_PATH, json={"ticket": ticket}, headers=headers)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    assert session_cookie.ticket_pending(ticket)  # not used up by a refused request
    ended = client.post(session_cookie.END_PATH, headers=headers)
    assert ended.status_code == 403


def test_unknown_tickets_and_bad_bodies_set_nothing(client):
    for body in (b"not json", b'["x"]', b'{"ticket": "nope"}', b"{" + b" " * 5000 + b"}"):
        response = client.post(session_cookie.SESSION_PATH, content=body, headers=HEADERS)
        assert response.status_code == 400 and "set-cookie" not in response.headers


def test_sign_out_route_expires_the_cookie(client):
    response = client.post(
        session_cookie.END_PATH, headers={**HEADERS, "Origin": "http://testserver"}
    )
    assert response.status_code == 204
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f'{session_cookie.COOKIE_NAME}="";')
    assert "Max-Age=0" in set_cookie and "HttpOnly" in set_cookie


def test_a_stale_ticket_is_refused(monkeypatch):
    ticket = session_cookie.issue_ticket("tok-old", 60)
    later = time.monotonic() + session_cookie.TICKET_TTL_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert session_cookie.redeem_ticket(ticket) is None


def _cookie(monkeypatch, token):
    """What the browser's handshake carries on a reload or in a new tab."""
    monkeypatch.setattr(session_cookie, "cookie_token", lambda: token)


def test_the_cookie_alone_signs_the_viewer_in(dashboard_db, sign_in, monkeypatch):
    token = sign_in("ann@example.com", "org_a", "auditor")
    _cookie(monkeypatch, token)
    at = page_test("overview.py", None).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert at.session_state[SESSION_TOKEN_KEY] == token
    assert md("ann@example.com") in at.sidebar.caption[0].value


def test_a_revoked_or_expired_cookie_shows_sign_in(dashboard_db, sign_in, monkeypatch):
    token = sign_in("ann@example.com", "org_a", "auditor")
    accounts.end_session(dashboard_db, token)
    _cookie(monkeypatch, token)
    at = page_test("overview.py", None).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"

    added = accounts.add_user(
        dashboard_db, email="bo@example.com", org="org_a", role="admin", actor="t"
    )
    short, _ = accounts.open_session(
        dashboard_db, added.user_id, method="test", ttl=timedelta(seconds=-1)
    )
    _cookie(monkeypatch, short)
    at = page_test("overview.py", None).run()
    assert at.title[0].value == "Sign in to AuditLens"
    _cookie(monkeypatch, "forged-token")
    at = page_test("overview.py", None).run()
    assert at.title[0].value == "Sign in to AuditLens"


def test_signing_in_issues_a_ticket_for_the_new_session(dashboard_db):
    added = accounts.add_user(
        dashboard_db, email="ann@example.com", org="org_a", role="auditor", actor="t"
    )
    at = page_test("overview.py", None).run()
    at.text_input(key="signin_email").input("ann@example.com")
    at.text_input(key="signin_password").input(str(added.password))
    at.button[0].click().run()
    assert not at.exception
    token = at.session_state[SESSION_TOKEN_KEY]
    ticket = at.session_state["auditlens_cookie_ticket"]
    assert ticket != token and token not in ticket
    # The ticket trades for exactly this session's token, whose hash the database holds.
    redeemed = session_cookie.redeem_ticket(ticket)
    assert redeemed is not None and redeemed[0] == token
    assert redeemed[1] == int(accounts.SESSION_TTL.total_seconds())
    with dashboard_db.admin() as s:
        assert (
            s.scalar(
                "SELECT count(*) FROM dashboard_sessions WHERE token_hash = :h",
                {"h": hashlib.sha256(token.encode()).hexdigest()},
            )
            == 1
        )


def test_sign_out_does_not_come_back_through_the_old_cookie(dashboard_db, sign_in, monkeypatch):
    token = sign_in("ann@example.com", "org_a", "admin")
    _cookie(monkeypatch, token)
    at = page_test("overview.py", None).run()
    assert at.title[0].value == "Overview"
    at.sidebar.button(key="auditlens_sign_out").click().run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"
    assert accounts.viewer_for_token(dashboard_db, token) is None
