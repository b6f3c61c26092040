"""Short-lived tickets: random URL-safe strings that stand, inside this server process, for
something the browser must not hold itself (a session token to trade for a cookie, an
export's filter and owner).

Only a ticket's SHA-256 is a key, so the store's contents never name a usable ticket. Entries
expire after a fixed time and the store is bounded (oldest dropped first): a page or a loop
that asks for many tickets costs memory only up to the bound.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_TICKET_LENGTH = 200  # anything longer is not one of ours: refused before hashing


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class TicketStore(Generic[T]):
    """Values behind tickets valid `ttl_seconds`, at most `max_entries` at a time."""

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[T, float]] = {}
        self._lock = threading.Lock()

    def issue(self, value: T) -> str:
        ticket = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (_, expires) in self._entries.items() if expires <= now]:
                del self._entries[key]
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[digest(ticket)] = (value, now + self.ttl_seconds)
        return ticket

    def get(self, ticket: str) -> T | None:
        """The value of a live ticket; None when unknown or expired."""
        return self._find(ticket, take=False)

    def take(self, ticket: str) -> T | None:
        """As `get`, and the ticket is used up."""
        return self._find(ticket, take=True)

    def _find(self, ticket: str, *, take: bool) -> T | None:
        if not ticket or len(ticket) > MAX_TICKET_LENGTH:
            return None
        key = digest(ticket)
        with self._lock:
            entry = self._entries.pop(key, None) if take else self._entries.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]
