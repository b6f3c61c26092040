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

Format ``auditlens-event-v2`` (seals of format ``auditlens-seal-v2`` and later) is the same 16
fields in PostgreSQL's binary record form, which the server produces in one C call per row
(`record_send`) instead of the ~50 text concatenations of v1, the cost that bounded sealing
speed. The bytes are the line ``auditlens-event-v2`` and then:

    int32 16 (the number of fields)
    per field: int32 type OID, int32 length in bytes (-1 for NULL, nothing follows), the value
      text fields (OID 25): the UTF-8 bytes;
      timestamps (OID 1184): int64 microseconds since 2000-01-01 00:00:00 UTC;
      ip_address (OID 869): address family (2 IPv4, 3 IPv6), prefix length, 0, address
        length (4 or 16), the address bytes (the address as stored, host bits included);
      details (OID 3802): the byte 1, then the jsonb text described above;
      ingest_seq (OID 20): int64.
All integers are big-endian and signed. The leaf hash is again ``SHA-256(0x00 || bytes)``.
v1 stays verifiable: a seal names its format, and its format names its events' format.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import struct
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sql.vocabulary import EVENT_COLUMNS, SYSTEM_COLUMNS

FORMAT = "auditlens-event-v1"
FORMAT_V2 = "auditlens-event-v2"
EVENT_FORMATS = (FORMAT, FORMAT_V2)

# Field order of the canonical record: the stored columns, then the system fields.
FIELDS: tuple[str, ...] = (*EVENT_COLUMNS, *SYSTEM_COLUMNS)
_TIME_FIELDS = frozenset({"event_time", "received_at", "retention_guaranteed_until"})
_TYPED_FIELDS = _TIME_FIELDS | {"ip_address", "details", "ingest_seq"}
_NOT_NULL = frozenset(
    {"organization_id", "id", "event_time", "event_type", "event_action", "details"}
    | set(SYSTEM_COLUMNS)
)
# The session settings `canonical_sql` relies on for timestamp text.
# client_encoding: record_send writes text in the client's encoding (v2 is UTF-8).
SQL_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "client_encoding": "UTF8"}


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


def record_sql(alias: str = "e", *, leaf_prefix: bool = False) -> str:
    """SQL bytea expression of the v2 canonical bytes of the `audit_events` row `alias`
    (with the leaf hash's 0x00 in front when `leaf_prefix`)."""
    fields = ", ".join(f"{alias}.{c}" for c in FIELDS)
    prefix = ((b"\x00" if leaf_prefix else b"") + (FORMAT_V2 + "\n").encode()).hex()
    # One literal and one record_send call per row: this is the cheap part of v2.
    return f"'\\x{prefix}'::bytea || pg_catalog.record_send(ROW({fields}))"


def leaf_hash_sql(alias: str = "e", fmt: str = FORMAT) -> str:
    """SQL bytea expression of the leaf hash of the `audit_events` row `alias` in `fmt`."""
    if fmt == FORMAT_V2:
        return f"pg_catalog.sha256({record_sql(alias, leaf_prefix=True)})"
    if fmt != FORMAT:
        raise ValueError(f"unknown event format {fmt!r}")
    return (
        "pg_catalog.sha256('\\x00'::bytea || pg_catalog.convert_to("
        f"{canonical_sql(alias)}, 'UTF8'))"
    )


def apply_sql_settings(session: Any) -> None:
    """SET LOCAL what `canonical_sql` needs in the session's transaction."""
    for name, value in SQL_SETTINGS.items():
        session.execute("SELECT set_config(:name, :value, true)", {"name": name, "value": value})


def parse_time(value: datetime | str) -> datetime:
    """A time-zone-aware timestamp; strings are parsed (ISO 8601 with an offset)."""
    if isinstance(value, str):
        text = value.strip().replace(" ", "T", 1)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        elif len(text) >= 3 and text[-3] in "+-" and text[-2:].isdigit() and ":" in text[-9:-3]:
            text += ":00"  # PostgreSQL writes whole-hour offsets as +00
        value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value.isoformat()}")
    return value


def format_time(value: datetime | str) -> str:
    """A timestamp in the canonical form; strings are parsed (ISO 8601 with an offset)."""
    t = parse_time(value).astimezone(UTC)
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
    exponent = value.as_tuple().exponent  # an int: only NaN and infinities have a letter
    if isinstance(exponent, int) and exponent >= 0:
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


def _details_text(value: Any) -> str:
    if isinstance(value, str | bytes):
        value = parse_details(value if isinstance(value, str) else value.decode())
    return jsonb_text(value)


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
        return _details_text(value)
    if name == "ingest_seq":
        return str(int(value))
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    return value


_OIDS = {name: 25 for name in FIELDS} | {
    "event_time": 1184,
    "received_at": 1184,
    "retention_guaranteed_until": 1184,
    "ip_address": 869,
    "details": 3802,
    "ingest_seq": 20,
}
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def pg_micros(value: datetime | str) -> int:
    """Microseconds since 2000-01-01 UTC (PostgreSQL's binary timestamp), exactly."""
    delta = parse_time(value) - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _inet_binary(value: Any) -> bytes:
    text = format_inet(value)  # normalises every accepted input to address/prefix
    interface = ipaddress.ip_interface(text)
    packed = interface.ip.packed
    family = 2 if interface.version == 4 else 3
    return bytes((family, interface.network.prefixlen, 0, len(packed))) + packed


def _field_binary(name: str, value: Any) -> bytes:
    if name in _TIME_FIELDS:
        if isinstance(value, date) and not isinstance(value, datetime):
            raise ValueError(f"{name} must be a timestamp, got a date: {value}")
        return struct.pack(">q", pg_micros(value))
    if name == "ip_address":
        return _inet_binary(value)
    if name == "details":
        return b"\x01" + _details_text(value).encode()
    if name == "ingest_seq":
        return struct.pack(">q", int(value))
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    return value.encode()


def _canonical_v2(event: Mapping[str, Any]) -> bytes:
    parts = [FORMAT_V2.encode(), b"\n", struct.pack(">i", len(FIELDS))]
    for name in FIELDS:
        value = event.get(name)
        if value is None:
            parts.append(struct.pack(">Ii", _OIDS[name], -1))
            continue
        data = _field_binary(name, value)
        parts.append(struct.pack(">Ii", _OIDS[name], len(data)))
        parts.append(data)
    return b"".join(parts)


def canonical_bytes(event: Mapping[str, Any], fmt: str = FORMAT) -> bytes:
    """The canonical record of one event given as a mapping of FIELDS (missing means NULL).

    Accepts database values (datetime, ipaddress, dict) or exported text (ISO timestamps,
    inet text, JSON text of details).
    """
    if fmt == FORMAT_V2:
        return _canonical_v2(event)
    if fmt != FORMAT:
        raise ValueError(f"unknown event format {fmt!r}")
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


def leaf_hash(event: Mapping[str, Any], fmt: str = FORMAT) -> bytes:
    """SHA-256(0x00 || canonical bytes): the event's Merkle leaf."""
    return hashlib.sha256(b"\x00" + canonical_bytes(event, fmt)).digest()
