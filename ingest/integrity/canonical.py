"""The canonical serialization of one audit event: the exact bytes a seal's Merkle leaf hashes.

Auditors recompute these bytes from an export without AuditLens, so the format is fixed and
versioned. Format ``auditlens-event-v1``, UTF-8, one line per item, each ending in ``\\n``:

    line 1:  auditlens-event-v1
    then one line per field, in this order:
      organization_id, id, event_time, event_type, event_action, user_id, user_email,
      ip_address, user_agent, resource_type, resource_id, details, session_id,
      received_at, retention_guaranteed_until, ingest_seq

A NULL field is the line ``-``. Otherwise:
- free-text fields (organization_id, id, event_type, event_action, user_id, user_email,
  user_agent, resource_type, resource_id, session_id) are ``<n>:<value>`` where <n> is the
  value's length in UTF-8 bytes, in decimal: the prefix keeps the encoding unambiguous
  whatever the value holds (newlines, colons, a lone ``-``) and tells NULL from "";
- timestamps (event_time, received_at, retention_guaranteed_until) are PostgreSQL's ISO
  output in UTC: ``2025-01-15 14:32:15+00``, with a fraction only when there is one and
  without its trailing zeros (``2025-01-15 14:32:15.25+00``);
- ip_address is PostgreSQL's ``text(inet)``: always with the mask (``192.168.1.100/32``,
  ``10.0.0.0/8``); IPv6 lower case with the longest run of zero groups compressed,
  IPv4-mapped as ``::ffff:1.2.3.4/128``;
- details is PostgreSQL's text form of ``jsonb``: object keys ordered by UTF-8 length, then
  bytewise; ``", "`` between items and ``": "`` after keys; strings escape only ``"``,
  ``\\``, and control characters (``\\b \\f \\n \\r \\t``, others ``\\u00xx``), every
  other character as is; numbers in plain decimal keeping their written scale (``1.50``
  stays ``1.50``, ``1e3`` becomes ``1000``, ``-0`` becomes ``0``);
- ingest_seq in decimal.
None of these typed values can contain a newline or be ``-``, so they need no prefix.

The leaf hash is ``SHA-256(0x00 || canonical bytes)`` (RFC 6962 leaf domain separation).
`canonical_sql` builds the same text inside PostgreSQL so sealing never round-trips rows
through Python (its session must run with ``TimeZone = 'UTC'`` and ``DateStyle = 'ISO'``:
`SQL_SETTINGS`); tests hold the two implementations to the same bytes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

FORMAT = "auditlens-event-v1"

# Field order of the canonical record (not the same as EVENT_COLUMNS: system fields follow).
FIELDS: tuple[str, ...] = (
    "organization_id",
    "id",
    "event_time",
    "event_type",
    "event_action",
    "user_id",
    "user_email",
    "ip_address",
    "user_agent",
    "resource_type",
    "resource_id",
    "details",
    "session_id",
    "received_at",
    "retention_guaranteed_until",
    "ingest_seq",
)
# Fields set by AuditLens at ingest, not by the producer: an export proof carries them.
SYSTEM_FIELDS: tuple[str, ...] = ("received_at", "retention_guaranteed_until", "ingest_seq")
_TIME_FIELDS = frozenset({"event_time", "received_at", "retention_guaranteed_until"})
_TYPED_FIELDS = _TIME_FIELDS | {"ip_address", "details", "ingest_seq"}
_NOT_NULL = frozenset(
    {"organization_id", "id", "event_time", "event_type", "event_action", "details"}
    | set(SYSTEM_FIELDS)
)
# The session settings `canonical_sql` relies on for timestamp text.
SQL_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, YMD"}


def _sql_field(column: str, alias: str) -> str:
    ref = f"{alias}.{column}"
    if column in _TYPED_FIELDS:
        value = f"{ref}::text"
    else:
        value = f"octet_length({ref})::text || ':' || {ref}"
    # Plain || chains: concat() looks up every argument's output function on every row.
    return value if column in _NOT_NULL else f"coalesce({value}, '-')"


def canonical_sql(alias: str = "e") -> str:
    """SQL text expression of the canonical record of the `audit_events` row `alias`."""
    parts = [f"'{FORMAT}'"] + [_sql_field(c, alias) for c in FIELDS]
    return " || E'\\n' || ".join(parts) + " || E'\\n'"


def leaf_hash_sql(alias: str = "e") -> str:
    """SQL bytea expression of the leaf hash of the `audit_events` row `alias`."""
    return (
        "pg_catalog.sha256('\\x00'::bytea || pg_catalog.convert_to("
        f"{canonical_sql(alias)}, 'UTF8'))"
    )


def apply_sql_settings(session: Any) -> None:
    """SET LOCAL what `canonical_sql` needs in the session's transaction."""
    for name, value in SQL_SETTINGS.items():
        session.execute("SELECT set_config(:name, :value, true)", {"name": name, "value": value})


def format_time(value: datetime | str) -> str:
    """A timestamp in the canonical form; strings are parsed (ISO 8601 with an offset)."""
    if isinstance(value, str):
        text = value.strip().replace(" ", "T", 1)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        elif len(text) >= 3 and text[-3] in "+-" and text[-2:].isdigit() and ":" in text[-9:-3]:
            text += ":00"  # PostgreSQL writes whole-hour offsets as +00
        value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value.isoformat()}")
    t = value.astimezone(UTC)
    out = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond:
        out += "." + f"{t.microsecond:06d}".rstrip("0")
    return out + "+00"


def format_inet(value: Any) -> str:
    """PostgreSQL's ``text(inet)`` of an address, interface or network (or its text)."""
    if isinstance(value, str):
        value = ipaddress.ip_interface(value.strip())
    elif isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        value = ipaddress.ip_interface(value)
    elif isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        value = ipaddress.ip_interface(f"{value.network_address}/{value.prefixlen}")
    if not isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        raise ValueError(f"not an IP address: {value!r}")
    address, prefix = value.ip, value.network.prefixlen
    if isinstance(address, ipaddress.IPv6Address):
        n = int(address)
        # PostgreSQL (BIND's inet_net_ntop) writes an embedded IPv4 address in dotted form.
        if address.ipv4_mapped is not None:
            return f"::ffff:{address.ipv4_mapped}/{prefix}"
        if n >> 32 == 0 and (n >> 16) & 0xFFFF:
            return f"::{ipaddress.IPv4Address(n & 0xFFFFFFFF)}/{prefix}"
    return f"{address}/{prefix}"


def _json_string(value: str) -> str:
    # json.dumps escapes exactly what PostgreSQL's escape_json does when ensure_ascii is off.
    return json.dumps(value, ensure_ascii=False)


def _json_number(value: Decimal | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Floats lose the written form; repr is the shortest round-trip (what PostgreSQL keeps
        # when the producer sent it as Python did).
        value = Decimal(repr(value))
    if not value.is_finite():
        raise ValueError(f"JSON numbers must be finite, got: {value}")
    if value == 0:
        value = abs(value)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent >= 0:
        return str(int(value))
    return format(value, "f")


def jsonb_text(value: Any) -> str:
    """PostgreSQL's text output of `value` as jsonb (see the module docstring)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, int | float | Decimal):
        return _json_number(value)
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        items = (f"{_json_string(k)}: {jsonb_text(value[k])}" for k in keys)
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def parse_details(text: str) -> Any:
    """Parse exported `details` JSON keeping numbers exact (as jsonb does)."""
    return json.loads(text, parse_float=Decimal)


def _field_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name in _TIME_FIELDS:
        if isinstance(value, date) and not isinstance(value, datetime):
            raise ValueError(f"{name} must be a timestamp, got a date: {value}")
        return format_time(value)
    if name == "ip_address":
        return format_inet(value)
    if name == "details":
        if isinstance(value, str | bytes):
            value = parse_details(value if isinstance(value, str) else value.decode())
        return jsonb_text(value)
    if name == "ingest_seq":
        return str(int(value))
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    return value


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """The canonical record of one event given as a mapping of FIELDS (missing means NULL).

    Accepts database values (datetime, ipaddress, dict) or exported text (ISO timestamps,
    inet text, JSON text of details).
    """
    lines = [FORMAT]
    for name in FIELDS:
        text = _field_text(name, event.get(name))
        if text is None:
            lines.append("-")
        elif name in _TYPED_FIELDS:
            lines.append(text)
        else:
            lines.append(f"{len(text.encode())}:{text}")
    return ("\n".join(lines) + "\n").encode()


def leaf_hash(event: Mapping[str, Any]) -> bytes:
    """SHA-256(0x00 || canonical bytes): the event's Merkle leaf."""
    return hashlib.sha256(b"\x00" + canonical_bytes(event)).digest()
