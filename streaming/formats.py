"""The payload formats a destination can send: native JSON, OCSF JSON and CEF.

Each format turns one stored event (a dict of its columns) or one finding into one line of
text without a line break, so NDJSON, syslog and files can frame it safely: JSON escapes
control characters, CEF escapes them as the CEF spec says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson

from sql.vocabulary import EVENT_COLUMNS, SYSTEM_COLUMNS
from streaming import ocsf
from streaming.mapping import FINDING, FINDING_CEF_SEVERITY, mapping_for

# A stored event's fields as streamed natively: the columns, in the store's order.
NATIVE_FIELDS: tuple[str, ...] = (*EVENT_COLUMNS, *SYSTEM_COLUMNS)
# The select list that reads them: an inet as the server writes it (parsing it into an
# ipaddress object only to write it back as text was a large share of reading a batch);
# host(), since the text cast appends the netmask (/32).
NATIVE_SELECT = ", ".join(
    "host(ip_address) AS ip_address" if name == "ip_address" else name for name in NATIVE_FIELDS
)
CEF_VENDOR = "AuditLens"
CEF_PRODUCT = "AuditLens"
CEF_VERSION = "1"


# Cached: the events of one transaction share their received_at and retention time.
@lru_cache(maxsize=4096)
def utc_iso(moment: datetime) -> str:
    """`moment` in UTC, ISO 8601 with microseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return str(value)  # inet


def _default(value: Any) -> Any:
    # What orjson hands back (times, with OPT_PASSTHROUGH_DATETIME) or cannot write (inet).
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(
            value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME
        ).decode()
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits, which the store keeps in details; the
        # standard library writes them, so such an event is sent rather than blocking its
        # destination's cursor for good.
        return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def native_event(event: dict[str, Any]) -> str:
    """The stored event exactly: every column, in the store's order, times in UTC ISO 8601."""
    if tuple(event) == NATIVE_FIELDS:  # a row as the cursor reads it: already in order
        return _dumps(event)
    return _dumps({name: event.get(name) for name in NATIVE_FIELDS})


def native_finding(finding: dict[str, Any]) -> str:
    """A stored finding, every column as stored, with `"kind": "finding"` first."""
    return _dumps({"kind": "finding", **{k: _plain(v) for k, v in finding.items()}})


def ocsf_event(event: dict[str, Any]) -> str:
    return _dumps(ocsf.event_record(event))


def ocsf_finding(finding: dict[str, Any]) -> str:
    return _dumps(ocsf.finding_record(finding))


# CEF escaping (ArcSight CEF spec): in the header a backslash and a pipe are escaped and no
# line break may appear; in extension values a backslash and an equals sign are escaped and
# line breaks are written as \n and \r. Keys are fixed names of ours, never input.
_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|", "\n": " ", "\r": " "})
_VALUE = str.maketrans({"\\": "\\\\", "=": "\\=", "\n": "\\n", "\r": "\\r"})


def cef_header(text: str) -> str:
    return text.translate(_HEADER)


def cef_value(text: str) -> str:
    return text.translate(_VALUE)


def _cef(signature: str, name: str, severity: int, extension: list[tuple[str, Any]]) -> str:
    head = "|".join(
        [
            "CEF:0",
            cef_header(CEF_VENDOR),
            cef_header(CEF_PRODUCT),
            cef_header(CEF_VERSION),
            cef_header(signature),
            cef_header(name),
            str(severity),
        ]
    )
    pairs = " ".join(
        f"{key}={cef_value(_text(value))}" for key, value in extension if value is not None
    )
    return f"{head}|{pairs}"


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    plain = _plain(value)
    return plain if isinstance(plain, str) else _dumps(plain)


def cef_event(event: dict[str, Any]) -> str:
    mapping = mapping_for(event["event_type"], event["event_action"])
    moment: datetime = event["event_time"]
    return _cef(
        event["event_action"],
        f"{event['event_type']}: {event['event_action']}",
        mapping.cef_severity,
        [
            ("rt", int(moment.timestamp() * 1000)),
            ("externalId", event["id"]),
            ("cat", event["event_type"]),
            ("act", event["event_action"]),
            ("outcome", "failure" if mapping.failed else "success"),
            ("suid", event.get("user_id")),
            ("suser", event.get("user_email")),
            ("src", event.get("ip_address")),
            ("requestClientApplication", event.get("user_agent")),
            ("cs1Label", "organization_id"),
            ("cs1", event["organization_id"]),
            ("cs2Label", "resource_type"),
            ("cs2", event.get("resource_type")),
            ("cs3Label", "resource_id"),
            ("cs3", event.get("resource_id")),
            ("cs4Label", "session_id"),
            ("cs4", event.get("session_id")),
            ("cs5Label", "details"),
            ("cs5", event.get("details") or {}),
            ("cn1Label", "ingest_seq"),
            ("cn1", event.get("ingest_seq")),
            ("cs6Label", "ocsf_type_uid"),
            ("cs6", mapping.type_uid),
        ],
    )


def cef_finding(finding: dict[str, Any]) -> str:
    created: datetime = finding["created_at"]
    return _cef(
        "finding",
        finding["title"],
        FINDING_CEF_SEVERITY[finding["severity"]],
        [
            ("rt", int(created.timestamp() * 1000)),
            ("externalId", finding["finding_id"]),
            ("cat", "finding"),
            ("suid", finding["user_id"]),
            ("suser", finding.get("user_email")),
            ("msg", finding["explanation"]),
            ("cs1Label", "organization_id"),
            ("cs1", finding["organization_id"]),
            ("cs2Label", "detectors"),
            ("cs2", ",".join(finding["detectors"])),
            ("cs3Label", "evidence_query"),
            ("cs3", finding["evidence_query"]),
            ("cfp1Label", "score"),
            ("cfp1", finding["score"]),
            ("cs6Label", "ocsf_type_uid"),
            ("cs6", FINDING.type_uid),
        ],
    )


Encoder = Callable[[dict[str, Any]], str]
# Format name -> (event encoder, finding encoder).
FORMATS: dict[str, tuple[Encoder, Encoder]] = {
    "json": (native_event, native_finding),
    "ocsf": (ocsf_event, ocsf_finding),
    "cef": (cef_event, cef_finding),
}


def encoder(format_name: str, *, finding: bool = False) -> Encoder:
    """The encoder of `format_name` (json, ocsf, cef); an unknown name is a ValueError."""
    if format_name not in FORMATS:
        raise ValueError(f"format: must be one of {', '.join(FORMATS)}, got {format_name!r}")
    return FORMATS[format_name][1 if finding else 0]
