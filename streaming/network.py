"""Which addresses a destination may reach: public ones, and those the operator allows.

A tenant's admin names a destination's host; without this check they could point the server
at its own loopback services, the cloud metadata endpoint (169.254.169.254) or the private
network it runs in. A host is checked when the destination is added (every address its name
resolves to) and again at every connection, on the addresses actually connected to, so a
name that later resolves elsewhere (DNS rebinding) is refused too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from typing import Any

ALLOWED_NETWORKS_ENV = "AUDITLENS_STREAM_ALLOWED_NETWORKS"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(ConnectionError):
    """A destination's host is, or resolves to, an address it may not reach; the message
    names the setting field (`url`, `host`)."""


def allowed_networks() -> list[Network]:
    """The non-public networks the operator allows (AUDITLENS_STREAM_ALLOWED_NETWORKS:
    comma-separated addresses or CIDRs); a bad entry is a ValueError naming the variable."""
    networks = []
    for part in os.environ.get(ALLOWED_NETWORKS_ENV, "").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"{ALLOWED_NETWORKS_ENV}: not an address or CIDR: {part.strip()!r}"
                ) from None
    return networks


def _kind(ip: Address) -> str | None:
    """What makes `ip` unreachable for a destination, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _kind(ip.ipv4_mapped)
    for name in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return None if ip.is_global else "non-public"


def check_address(ip: Address, field: str, host: str) -> None:
    """Raise AddressRefused unless `ip` is public or in an allowed network."""
    kind = _kind(ip)
    if kind is None or any(ip in net for net in allowed_networks()):
        return
    shown = host if host == str(ip) else f"{host} ({ip})"
    raise AddressRefused(
        f"{field}: {shown} is a {kind} address; a destination may reach only public addresses"
        f" unless the operator allows its network in {ALLOWED_NETWORKS_ENV}"
    )


def resolve(host: str, port: int, field: str) -> list[tuple[socket.AddressFamily, Any]]:
    """Every address `host` resolves to, each checked (AddressRefused for the first refused);
    a name that does not resolve is an OSError."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[tuple[socket.AddressFamily, Any]] = []
    for family, _type, _proto, _name, sockaddr in found:
        check_address(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]), field, host)
        addresses.append((family, sockaddr))
    return addresses


def check_host(host: str, port: int, field: str) -> None:
    """At add time: refuse a host that is, or resolves to, a refused address. A name that
    does not resolve now is let through: every connection checks again."""
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        with contextlib.suppress(socket.gaierror):
            resolve(host, port, field)
        return
    check_address(literal, field, host)


def connect(host: str, port: int, timeout: float | None, field: str) -> socket.socket:
    """A TCP connection to `host` on one of its checked addresses (tried in turn)."""
    last: OSError | None = None
    for family, sockaddr in resolve(host, port, field):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise last or OSError(f"{field}: {host} resolves to no address")
