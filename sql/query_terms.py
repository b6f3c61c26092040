"""The terms of the query syntax one at a time: the error a bad one raises, and the checks
that make a value safe to bind (length, control characters) and canonical (an IP or network,
a weekday, an hour, an IANA zone)."""

from __future__ import annotations

import ipaddress

from sql.errors import AuditLensError
from sql.filter_text import SEPARATORS

MAX_QUERY_LENGTH = 4_000
MAX_VALUE_LENGTH = 512
_MAX_ZONE_LENGTH = 64
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = {name: name for name in WEEKDAYS} | {
    full: full[:3]
    for full in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


class QuerySyntaxError(AuditLensError):
    """A query the parser cannot read; `position` (0-based) points at the bad part."""

    def __init__(self, message: str, *, query: str = "", position: int | None = None) -> None:
        self.message = message
        self.query = query
        self.position = position
        where = f"at column {position + 1}: " if position is not None else ""
        super().__init__(f"query error {where}{message}")

    def caret(self) -> str:
        """The query on one line and a caret under the bad part, for a monospace display."""
        if self.position is None or not self.query:
            return str(self)
        shown = "".join(" " if c in SEPARATORS else c for c in self.query[:MAX_QUERY_LENGTH])
        return f"{shown}\n{' ' * min(self.position, len(shown))}^ {self.message}"


def check_value(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise QuerySyntaxError(f"{what} must be text, got: {type(value).__name__}")
    if value == "":
        raise QuerySyntaxError(f"{what} must not be empty")
    if len(value) > MAX_VALUE_LENGTH:
        raise QuerySyntaxError(
            f"{what} is {len(value):,} characters long (at most {MAX_VALUE_LENGTH})"
        )
    bad = next((i for i, c in enumerate(value) if is_control(c)), None)
    if bad is not None:
        raise QuerySyntaxError(
            f"{what} contains a control character (U+{ord(value[bad]):04X}) at {bad + 1}"
        )
    return value


def is_control(c: str) -> bool:
    code = ord(c)
    return code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF


def normalise_ip(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise QuerySyntaxError(
            f"ip: needs an address or CIDR like 10.0.0.0/8, got: {value!r}"
        ) from None
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def normalise_weekday(value: str) -> str:
    day = WEEKDAY_NAMES.get(value.lower())
    if day is None and value.isdigit() and 1 <= int(value) <= 7:
        day = WEEKDAYS[int(value) - 1]
    if day is None:
        raise QuerySyntaxError(f"weekday: needs mon..sun (or 1..7, Monday first), got: {value!r}")
    return day


def normalise_hour(value: str) -> str:
    if not (value.isascii() and value.isdigit() and len(value) <= 2 and int(value) <= 23):
        raise QuerySyntaxError(f"hour: needs an hour of day 0..23, got: {value!r}")
    return str(int(value))


def check_zone(value: str) -> str:
    from zoneinfo import available_timezones

    if not isinstance(value, str) or len(value) > _MAX_ZONE_LENGTH:
        raise QuerySyntaxError("tz: needs an IANA time zone like Europe/Berlin")
    if value != "UTC" and value not in available_timezones():
        raise QuerySyntaxError(f"tz: unknown IANA time zone {value!r} (for example Europe/Berlin)")
    return value
