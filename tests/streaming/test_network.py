"""Destinations reach only public addresses unless the operator allows a network: checked
when one is added (every address its name resolves to) and at every connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sql.gateway import Database
from streaming import destinations
from streaming.destinations import DestinationError
from streaming.network import ALLOWED_NETWORKS_ENV
from streaming.service import Streamer
from tests.streaming.helpers import store
from tests.streaming.https_receiver import HttpsReceiver
from tests.streaming.rsyslog import free_port
from tests.streaming.tls import Certificates, make_certificates

SECRET = "s3cret"


def add_https(db: Database, url: str, ca: str | None = None) -> None:
    destinations.add(
        db,
        "org_a",
        "hec",
        kind="https",
        payload="json",
        settings={"url": url, "style": "ndjson", **({"ca_file": ca} if ca else {})},
        secret=SECRET,
        actor="t",
    )


def add_syslog(db: Database, host: str) -> None:
    destinations.add(
        db, "org_a", "sys", kind="syslog", payload="json", settings={"host": host, "port": 514},
        actor="t",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("[::1]", "loopback"),
        ("[fd00:ec2::254]", "private"),
        ("[::ffff:169.254.169.254]", "link-local"),
        ("100.100.100.200", "non-public"),
        ("0.0.0.0", "private"),  # noqa: S104 - refused, never bound
        ("localhost", "loopback"),
    ],
)
@pytest.mark.usefixtures("public_only")
def test_an_address_that_is_not_public_is_refused(db: Database, host: str, kind: str) -> None:
    with pytest.raises(DestinationError) as https:
        add_https(db, f"https://{host}:8088/services/collector")
    message = str(https.value)
    assert message.startswith("url: ") and f"a {kind} address" in message
    assert ALLOWED_NETWORKS_ENV in message and "\n" not in message
    with pytest.raises(DestinationError, match=f"^host: .* is a {kind} address"):
        add_syslog(db, host.strip("[]"))
    assert destinations.list_destinations(db, "org_a") == []


def test_a_network_the_operator_allows_is_reachable(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "10.0.0.0/8")
    add_syslog(db, "10.1.2.3")
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "10.0.0.0/8, nonsense")
    with pytest.raises(DestinationError, match=f"^{ALLOWED_NETWORKS_ENV}: not an address"):
        add_https(db, "https://10.1.2.3/")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[HttpsReceiver, Certificates]]:
    certificates = make_certificates(tmp_path)
    running = HttpsReceiver(certificates, free_port(), secret=SECRET, style="ndjson")
    running.start()
    try:
        yield running, certificates
    finally:
        running.stop()


@pytest.mark.usefixtures("public_only")
def test_a_name_that_resolves_elsewhere_later_is_refused_at_connect_time(
    db: Database, monkeypatch: pytest.MonkeyPatch, receiver: tuple[HttpsReceiver, Certificates]
) -> None:
    """DNS rebinding: public when the destination was added, the loopback when it sends."""
    running, certificates = receiver
    answers = {"rebind.example": "93.184.216.34"}
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(answers.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    add_https(db, f"https://rebind.example:{running.port}/", str(certificates.ca))
    answers["rebind.example"] = "127.0.0.1"
    store(db, 2)
    Streamer(db).run_once()
    dest = destinations.get(db, "org_a", "hec")
    assert dest.last_error is not None
    assert "url: rebind.example (127.0.0.1) is a loopback address" in dest.last_error
    assert running.records == []
    assert dest.events_sent == 0
