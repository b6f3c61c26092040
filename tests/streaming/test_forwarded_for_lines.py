"""X-Forwarded-For sent as several header lines is one list (RFC 9110, 5.3): a proxy that
adds its own line after the client's (HAProxy's `option forwardfor` does) must not leave the
client's forged first line as the audited address of an API read."""

from __future__ import annotations

from starlette.requests import Request

from ingest.middleware import parse_networks
from streaming.read_api import _client_ip

FORGED = "203.0.113.66"
REAL = "198.51.100.7"


def _request(*forwarded: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/api/v1/events",
            "headers": [(b"x-forwarded-for", line.encode()) for line in forwarded],
            "client": ("127.0.0.1", 40000),
        }
    )


def test_a_proxys_own_line_after_the_clients_forged_one_wins() -> None:
    trusted = parse_networks("127.0.0.1")
    assert _client_ip(_request(FORGED, REAL), trusted) == REAL
    assert _client_ip(_request(f"{FORGED}, {REAL}"), trusted) == REAL  # the same list on one line


def test_without_a_trusted_proxy_no_line_is_believed() -> None:
    assert _client_ip(_request(FORGED, REAL), []) == "127.0.0.1"
