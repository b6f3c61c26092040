"""The payload formats a destination can send: native JSON, OCSF JSON and CEF.

Each format turns one stored event (a dict of its columns) or one finding into one line of
text without a line break, so NDJSON, syslog and files can frame it safely: JSON escapes
control characters, CEF escapes them as the CEF spec says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import orjson

from sql.vocabulary import EVENT_COLUMNS, SYSTEM_COLUMNS
from streaming import ocsf
from streaming.mapping import FINDING, FINDING_CEF_SEVERITY, mapping_for
from streaming.times import as_moment, utc_iso, utc_iso_sql

# A stored event's fields as streamed natively: the columns, in the store's order.
NATIVE_FIELDS: tuple[str, ...] = (*EVENT_COLUMNS, *SYSTEM_COLUMNS)
_TIMES = ("event_time", "received_at", "retention_guaranteed_until")


# NATIVE_SELECT reads the fields as text wherever the server writes what is streamed: an inet
# as its address (host(): the text cast appends the netmask, /32), times as `utc_iso` writes
# them, details as its JSON text (`stored_event` reads it). Making Python objects of them only
# to write them back as text was most of the cost of reading a batch.
def _native_column(name: str) -> str:
    if name == "ip_address":
        return "host(ip_address) AS ip_address"
    if name in _TIMES:
        return f"{utc_iso_sql(name)} AS {name}"
    if name == "details":
        return "details::text AS details"
    return name


NATIVE_SELECT = ", ".join(_native_column(name) for name in NATIVE_FIELDS)
CEF_VENDOR = "AuditLens"
CEF_PRODUCT = "AuditLens"
CEF_VERSION = "1"
# orjson reads an integer beyond 64 bits as a float; such a number has 19 digits or more.
_LONG_NUMBER = re.compile(r"\d{19}")


def load_json(text: str) -> Any:
    """JSON text read exactly: by orjson (several times faster), or by the standard library
    when orjson could round a number (the text has 19 digits in a row) or refuses the text."""
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def stored_event(row: Sequence[Any]) -> dict[str, Any]:
    """The stored event of a row whose first columns are NATIVE_SELECT's (more may follow)."""
    event = dict(zip(NATIVE_FIELDS, row, strict=False))
    event["details"] = load_json(event["details"])
    return event


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
# line breaks are written as \n and \r. Keys are fixed names of ours, never input. Chained
# replace, backslash first: each step returns its input at once when the character is absent
# (the usual case), where str.translate looks every character up in a dict.
def cef_header(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def cef_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n").replace("\r", "\\r")


_CEF_PREFIX = "|".join(
    ["CEF:0", cef_header(CEF_VENDOR), cef_header(CEF_PRODUCT), cef_header(CEF_VERSION)]
)


def _cef(signature: str, name: str, severity: int, extension: list[tuple[str, Any]]) -> str:
    head = f"{_CEF_PREFIX}|{cef_header(signature)}|{cef_header(name)}|{severity}"
    pairs = " ".join(
        f"{key}={cef_value(_text(value))}" for key, value in extension if value is not None
    )
    return f"{head}|{pairs}"


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    plain = _plain(value)
    return plain if isinstance(plain, str) else _dumps(plain)


def _cef_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def cef_event(event: dict[str, Any]) -> str:
    # Written out field by field, and escaped only when some value holds a character to
    # escape (one look over them all): this runs once per event sent, and a walk over a list of
    # (key, value) pairs, escaping each, cost several times what the event's fields need.
    get = event.get
    action = event["event_action"]
    family = event["event_type"]
    mapping = mapping_for(family, action)
    millis = int(as_moment(event["event_time"]).timestamp() * 1000)
    seq = get("ingest_seq")
    texts: tuple[Any, ...] = (
        event["id"],
        family,
        action,
        get("user_id"),
        get("user_email"),
        get("ip_address"),
        get("user_agent"),
        event["organization_id"],
        get("resource_type"),
        get("resource_id"),
        get("session_id"),
        _text(get("details") or {}),
        None if seq is None else str(seq) if type(seq) is int else _text(seq),
    )
    try:
        joined = "".join([t for t in texts if t is not None])
    except TypeError:  # a value that is not text (an inet, say): as `_text` writes it
        texts = tuple(map(_cef_text, texts))
        joined = "".join([t for t in texts if t is not None])
    if "\\" in joined or "=" in joined or "\n" in joined or "\r" in joined:
        texts = tuple(None if t is None else cef_value(t) for t in texts)
    eid, cat, act, suid, suser, src, agent, org, rtype, rid, session, details, cn1 = texts
    return (
        f"{_CEF_PREFIX}|{cef_header(action)}|{cef_header(f'{family}: {action}')}"
        f"|{mapping.cef_severity}|rt={millis}"
        f"{'' if eid is None else ' externalId=' + eid}{'' if cat is None else ' cat=' + cat}"
        f"{'' if act is None else ' act=' + act}"
        f" outcome={'failure' if mapping.failed else 'success'}"
        f"{'' if suid is None else ' suid=' + suid}"
        f"{'' if suser is None else ' suser=' + suser}"
        f"{'' if src is None else ' src=' + src}"
        f"{'' if agent is None else ' requestClientApplication=' + agent}"
        f" cs1Label=organization_id{'' if org is None else ' cs1=' + org}"
        f" cs2Label=resource_type{'' if rtype is None else ' cs2=' + rtype}"
        f" cs3Label=resource_id{'' if rid is None else ' cs3=' + rid}"
        f" cs4Label=session_id{'' if session is None else ' cs4=' + session}"
        f" cs5Label=details cs5={details}"
        f" cn1Label=ingest_seq{'' if cn1 is None else ' cn1=' + cn1}"
        f" cs6Label=ocsf_type_uid cs6={mapping.type_uid}"
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
