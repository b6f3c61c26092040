"""A trusted proxy is trusted under both spellings of an IPv4 address: a dual-stack listener
reports 10.0.0.1 as ::ffff:10.0.0.1."""

from __future__ import annotations

import pytest

from ingest.middleware import client_ip, parse_networks


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ("10.0.0.0/8", "::ffff:10.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.1", "::ffff:10.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("::ffff:10.0.0.0/104", "10.0.0.1", "203.0.113.9", "203.0.113.9"),
        # A chain of proxies: a hop in the other spelling is walked past as well.
        ("10.0.0.0/8", "10.0.0.1", "203.0.113.9, ::ffff:10.0.0.2", "203.0.113.9"),
        # Not trusted in any spelling: the peer, as seen.
        ("10.0.0.0/8", "::ffff:11.0.0.1", "203.0.113.9", "::ffff:b00:1"),
        ("10.0.0.0/8", "::1", "203.0.113.9", "::1"),
    ],
)
def test_mapped_addresses_match_the_trusted_proxies(trusted, peer, forwarded, client):
    assert client_ip(peer, forwarded, parse_networks(trusted)) == client
