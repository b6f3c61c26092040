"""Local ports for the servers tests start, from a slice of the port space of this xdist
worker's own.

A port the kernel hands out (binding port 0) is free only until it is released: another
worker's test may bind it next, and any process's outgoing connection may be given it. Tests
that rely on what does (or does not) listen on their port take one here instead: below the
kernel's range for outgoing connections, in a slice no other worker picks from, starting at
a random place so that two test runs on one machine seldom meet."""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

LOWEST = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def worker_range(worker: str | None, workers: int, ephemeral_low: int) -> range:
    """The ports worker `worker` ("gw0", ... or None outside xdist) of `workers` picks from."""
    top = min(ephemeral_low, 32_768)
    if top - LOWEST < 100 * max(workers, 1):
        raise RuntimeError(f"no room for test ports below the ephemeral range ({ephemeral_low})")
    index = int(worker.removeprefix("gw")) if worker else 0
    size = (top - LOWEST) // max(workers, 1)
    return range(LOWEST + index * size, LOWEST + (index + 1) * size)


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _candidates() -> Iterator[int]:
    ports = worker_range(
        os.environ.get("PYTEST_XDIST_WORKER"),
        int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")),
        _ephemeral_low(),
    )
    start = random.randrange(len(ports))  # spreading, not secrecy
    for offset in itertools.count():
        yield ports[(start + offset) % len(ports)]


_PORTS = _candidates()


def free_port() -> int:
    """A port of this worker's slice that nothing listens on now; consecutive calls go on
    through the slice, so a stopped server's port is not the next test's."""
    for port in itertools.islice(_PORTS, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free test port in this worker's slice")
