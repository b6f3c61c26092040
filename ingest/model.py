"""The one event model every entry point uses (SDK, HTTP receiver, middleware, file import).

The wire format is the feature request's JSON, field for field (see DESIGN.md): `id`,
`timestamp`, `event_type`, `event_action`, `user_id`, `user_email`, `organization_id`,
`ip_address`, `user_agent`, `resource_type`, `resource_id`, `details`, `session_id`.

`validate_event(obj)` checks one decoded event and returns an `AuditEvent`, or raises
`EventRejected(field, reason)` whose message is one line naming the field. The rules:

- required: `timestamp`, `event_type`, `event_action`, `organization_id`; strings are strings
  (no silent coercion of numbers or booleans); unknown top-level fields are refused, so nothing
  a producer sent is silently dropped;
- `event_type` is a known family (`KNOWN_FAMILIES`, plus any listed in the
  `AUDITLENS_EXTRA_EVENT_TYPES` setting, comma separated);
- `timestamp` is ISO 8601 with a time zone (naive or unparseable is refused), not more than
  `MAX_FUTURE` ahead of now and not before 1970;
- `ip_address` is a plain IPv4 or IPv6 address (no zone id, no prefix);
- every string fits its column (`MAX_LENGTHS`) and is valid Unicode without NUL characters,
  which PostgreSQL text cannot hold;
- `details` is a JSON object of at most 64 KiB (serialised, UTF-8), nested at most
  `MAX_DETAILS_DEPTH` levels, with no NUL and no NaN/Infinity;
- an event without `id` gets a time-ordered UUIDv7.

The hot paths (import, receiver, SDK) call `normalise_event(obj) -> row` directly, which does
the same checks without building a pydantic object; `validate_event` wraps it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, overload
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

from ingest.fastjson import TooLongNumber
from sql.event_store import new_event_id
from sql.vocabulary import EVENT_COLUMNS, FAMILIES, ORG_ID, ORG_ID_RULE

EXTRA_FAMILIES_ENV = "AUDITLENS_EXTRA_EVENT_TYPES"

KNOWN_FAMILIES: frozenset[str] = frozenset(FAMILIES)

WIRE_FIELDS: tuple[str, ...] = (
    "id",
    "timestamp",
    "event_type",
    "event_action",
    "user_id",
    "user_email",
    "organization_id",
    "ip_address",
    "user_agent",
    "resource_type",
    "resource_id",
    "details",
    "session_id",
)
REQUIRED_FIELDS: tuple[str, ...] = ("timestamp", "event_type", "event_action", "organization_id")

# Longest accepted value per string field, in characters (the request's schema where it has
# one; user agents and resource ids are longer in the wild).
MAX_LENGTHS: dict[str, int] = {
    "id": 128,
    "event_type": 50,
    "event_action": 50,
    "user_id": 255,
    "user_email": 320,
    "organization_id": 128,
    "user_agent": 1024,
    "resource_type": 50,
    "resource_id": 512,
    "session_id": 128,
}
_OPTIONAL_STRINGS = ("user_id", "user_email", "user_agent", "resource_type", "resource_id",
                     "session_id")  # fmt: skip
MAX_DETAILS_BYTES = 64 * 1024
MAX_DETAILS_DEPTH = 32
MAX_FUTURE = timedelta(minutes=5)
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}\Z")
_WIRE_SET = frozenset(WIRE_FIELDS)


class EventRejected(ValueError):
    """One event refused: `field` names what is wrong (or 'event' for the whole), `reason` why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _show(value: Any, limit: int = 40) -> str:
    """A short, one-line rendering of a hostile value for a reason text."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    if isinstance(value, TooLongNumber):
        return f"a number of {value.digits} digits"
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


_families_cache: tuple[str | None, frozenset[str]] = (None, KNOWN_FAMILIES)


def known_families() -> frozenset[str]:
    """The accepted `event_type` values: the built-in ones plus AUDITLENS_EXTRA_EVENT_TYPES."""
    global _families_cache
    raw = os.environ.get(EXTRA_FAMILIES_ENV) or None
    if raw == _families_cache[0]:
        return _families_cache[1]
    extra = {name.strip() for name in (raw or "").split(",") if name.strip()}
    bad = sorted(name for name in extra if not _FAMILY_NAME.match(name))
    if bad:
        from sql.errors import ConfigurationError

        raise ConfigurationError(
            f"{EXTRA_FAMILIES_ENV} must list lowercase names (a-z, 0-9, _), got: {bad[0]!r}"
        )
    families = KNOWN_FAMILIES | frozenset(extra)
    _families_cache = (raw, families)
    return families


@overload
def _check_text(field: str, value: Any, *, required: Literal[True]) -> str: ...
@overload
def _check_text(field: str, value: Any, *, required: bool) -> str | None: ...
def _check_text(field: str, value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise EventRejected(field, "is required")
        return None
    if type(value) is not str:
        raise EventRejected(field, f"must be a string, got {_type_name(value)}")
    if "\x00" in value:
        raise EventRejected(field, "contains a NUL character")
    if len(value) > MAX_LENGTHS[field]:
        raise EventRejected(field, f"is {len(value)} characters long, at most {MAX_LENGTHS[field]}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EventRejected(field, "is not valid Unicode (lone surrogate)") from None
    return value


def _check_timestamp(value: Any, now: datetime | None) -> datetime:
    if value is None:
        raise EventRejected("timestamp", "is required")
    if isinstance(value, datetime):
        parsed = value
    elif type(value) is str:
        if "\x00" in value or len(value) > 64:
            raise EventRejected("timestamp", f"is not an ISO 8601 time: {_show(value)}")
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise EventRejected("timestamp", f"is not an ISO 8601 time: {_show(value)}") from None
    else:
        raise EventRejected(
            "timestamp", f"must be an ISO 8601 string with a time zone, got {_type_name(value)}"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise EventRejected("timestamp", f"has no time zone: {_show(value)} (add Z or +00:00)")
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise EventRejected("timestamp", f"is out of range: {_show(value)}") from None
    if parsed < _EARLIEST:
        raise EventRejected("timestamp", f"is before 1970: {_show(value)}")
    current = now or datetime.now(UTC)
    if parsed > current + MAX_FUTURE:
        raise EventRejected(
            "timestamp", f"is more than 5 minutes in the future: {parsed.isoformat()}"
        )
    return parsed


_IPV4 = re.compile(
    r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\Z"
)


def _check_ip(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str and _IPV4.match(value):
        return value  # the common case, without ipaddress's slower parser
    if type(value) is not str:
        raise EventRejected("ip_address", f"must be a string, got {_type_name(value)}")
    if len(value) > 45 or "%" in value or "\x00" in value:
        raise EventRejected("ip_address", f"is not an IPv4 or IPv6 address: {_show(value)}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise EventRejected(
            "ip_address", f"is not an IPv4 or IPv6 address: {_show(value)}"
        ) from None


def _json_default(value: Any) -> Any:
    # SDK callers hand in Python objects; give the common ones their obvious JSON form.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value  # what orjson (the fast path below) writes for a member
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, TooLongNumber):
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"a number has {value.digits} digits, at most {limit}")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value, iteratively (hostile input may be very deep)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_DETAILS_DEPTH:
                return deepest
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            for key, item in node.items():
                if isinstance(key, str) and "\x00" in key:
                    return True
                stack.append(item)
        elif isinstance(node, list):
            stack.extend(node)
    return False


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
)


# orjson for plain JSON values only: dates, dataclasses and subclasses of the JSON types go to
# `_refuse`, so the stdlib encoder (with `_json_default`) decides them.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: Any) -> Any:
    raise TypeError


def _details_fast(value: dict[str, Any]) -> str | None:
    """`details` encoded by orjson (about twice as fast as the stdlib encoder), or None when
    it might be wrong or differ: anything orjson refuses (non-string keys, integers beyond 64
    bits, lone surrogates, other types) and any `null` in the output, since orjson writes NaN
    and Infinity as null where the stdlib refuses them. The careful path then decides."""
    try:
        out = orjson.dumps(value, default=_refuse, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
    if (
        b"null" in out
        or len(out) > MAX_DETAILS_BYTES
        or b"\\u0000" in out
        or out.count(b"{") + out.count(b"[") > MAX_DETAILS_DEPTH
    ):
        return None
    return out.decode("utf-8")


def serialise_details(value: Any) -> str:
    """`details` as the JSON text stored in jsonb, or EventRejected saying why it cannot be."""
    if value is None:
        return "{}"
    if type(value) is dict:
        fast = _details_fast(value)
        if fast is not None:
            return fast
    return _details_checked(value)


def _details_checked(value: Any) -> str:
    """`serialise_details` by the stdlib encoder: the path that decides every rejection."""
    if value is None:
        return "{}"
    if not isinstance(value, Mapping):
        raise EventRejected("details", f"must be a JSON object, got {_type_name(value)}")
    try:
        text = _ENCODER.encode(value)
    except RecursionError:
        raise EventRejected(
            "details", f"is nested deeper than {MAX_DETAILS_DEPTH} levels"
        ) from None
    except (TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        if "Out of range float" in reason:
            reason = "NaN and Infinity are not JSON"
        raise EventRejected("details", f"is not valid JSON: {reason}") from None
    if len(text) > MAX_DETAILS_BYTES // 4 or not text.isascii():
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise EventRejected("details", "is not valid Unicode (lone surrogate)") from None
        if size > MAX_DETAILS_BYTES:
            raise EventRejected(
                "details", f"is {size} bytes as JSON, at most {MAX_DETAILS_BYTES} (64 KiB)"
            )
    # json.dumps writes NUL as \u0000, which jsonb refuses; confirm on the decoded value so a
    # literal backslash-u0000 text is not mistaken for one.
    if "\\u0000" in text and _has_nul(value):
        raise EventRejected("details", "contains a NUL character")
    if text.count("{") + text.count("[") > MAX_DETAILS_DEPTH and _depth(value) > MAX_DETAILS_DEPTH:
        raise EventRejected("details", f"nests deeper than {MAX_DETAILS_DEPTH} levels")
    return text


def normalise_event(
    obj: Any, *, now: datetime | None = None, families: frozenset[str] | None = None
) -> tuple[Any, ...]:
    """Check one decoded event and return its row in `EVENT_COLUMNS` order (details as JSON
    text); raises EventRejected naming the field. The fast path under `validate_event`.
    `families` is `known_families()` read once by a caller checking a whole batch."""
    if not isinstance(obj, Mapping):
        raise EventRejected("event", f"must be a JSON object, got {_type_name(obj)}")
    if not _WIRE_SET.issuperset(obj):
        key = next(k for k in obj if k not in _WIRE_SET)
        if key == "event_time":
            raise EventRejected(key, "is not a wire field (send it as 'timestamp')")
        raise EventRejected(
            "event", f"unknown field {_show(key)} (the wire fields are: {', '.join(WIRE_FIELDS)})"
        )
    get = obj.get
    org = get("organization_id")
    if org is None:
        raise EventRejected("organization_id", "is required")
    if type(org) is not str:
        raise EventRejected("organization_id", f"must be a string, got {_type_name(org)}")
    if not ORG_ID.fullmatch(org):
        raise EventRejected("organization_id", f"must be {ORG_ID_RULE}, got {_show(org)}")
    event_type = _check_text("event_type", get("event_type"), required=True)
    if event_type not in (families if families is not None else known_families()):
        raise EventRejected(
            "event_type",
            f"unknown family {_show(event_type)} (known: {', '.join(sorted(known_families()))};"
            f" add more with {EXTRA_FAMILIES_ENV})",
        )
    action = _check_text("event_action", get("event_action"), required=True)
    if not action.strip():
        raise EventRejected("event_action", "is empty")
    timestamp = _check_timestamp(get("timestamp"), now)
    event_id = get("id")
    if event_id is None:
        event_id = new_event_id()
    else:
        _check_text("id", event_id, required=True)
        if not event_id.strip():
            raise EventRejected("id", "is empty (leave it out to get a generated id)")
    return (
        org,
        event_id,
        timestamp,
        event_type,
        action,
        _check_text("user_id", get("user_id"), required=False),
        _check_text("user_email", get("user_email"), required=False),
        _check_ip(get("ip_address")),
        _check_text("user_agent", get("user_agent"), required=False),
        _check_text("resource_type", get("resource_type"), required=False),
        _check_text("resource_id", get("resource_id"), required=False),
        serialise_details(get("details")),
        _check_text("session_id", get("session_id"), required=False),
    )


class AuditEvent(BaseModel):
    """One validated audit event in wire form. Build it with `validate_event` (or the
    constructor, which applies the same rules and raises pydantic's ValidationError)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    timestamp: datetime
    event_type: str
    event_action: str
    user_id: str | None = None
    user_email: str | None = None
    organization_id: str
    ip_address: str | None = None
    user_agent: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    details: dict[str, Any] = {}
    session_id: str | None = None

    _details_json: str = PrivateAttr(default="{}")

    @model_validator(mode="before")
    @classmethod
    def _apply_rules(cls, data: Any) -> Any:
        row = normalise_event(data)  # EventRejected is a ValueError: pydantic reports it
        values = dict(zip(EVENT_COLUMNS, row, strict=True))
        values["timestamp"] = values.pop("event_time")
        values["details"] = json.loads(values["details"])
        return values

    def model_post_init(self, context: Any, /) -> None:
        self._details_json = json.dumps(self.details, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_row(cls, row: tuple[Any, ...], details: Mapping[str, Any] | None = None) -> AuditEvent:
        """An event from an already checked row (as `normalise_event` returns it)."""
        values = dict(zip(EVENT_COLUMNS, row, strict=True))
        details_json = values["details"]
        values["timestamp"] = values.pop("event_time")
        values["details"] = dict(details) if details is not None else json.loads(details_json)
        event = cls.model_construct(**values)
        event._details_json = details_json
        return event

    def to_row(self) -> tuple[Any, ...]:
        """The event as a row in `sql.vocabulary.EVENT_COLUMNS` order, for `insert_events`
        (`details` as its JSON text, which insert_events takes as is)."""
        return (
            self.organization_id,
            self.id,
            self.timestamp,
            self.event_type,
            self.event_action,
            self.user_id,
            self.user_email,
            self.ip_address,
            self.user_agent,
            self.resource_type,
            self.resource_id,
            self._details_json,
            self.session_id,
        )

    def to_wire(self) -> dict[str, Any]:
        """The event as wire JSON (timestamp as ISO 8601 UTC)."""
        out = self.model_dump()
        out["timestamp"] = self.timestamp.isoformat().replace("+00:00", "Z")
        return out


def validate_event(obj: Any, *, now: datetime | None = None) -> AuditEvent:
    """Check one decoded event (a dict from JSON, CSV or the SDK) and return it as an
    AuditEvent, or raise EventRejected(field, reason) with a one-line reason naming the field."""
    return AuditEvent.from_row(normalise_event(obj, now=now))
