"""The fast CEF and OCSF event encoders write exactly what the plain definitions write.

The definitions: for OCSF the library's models (`ocsf.event_model`, validated, dumped); for
CEF the spec-literal writer below (a list of key/value pairs, each value escaped with
str.translate), which is how `cef_event` was first written. Compared byte for byte over every
mapping and hostile values: line breaks, `|`, `=`, `\\`, unicode, 60 KB details, integers
beyond 64 bits, missing and empty fields, times and addresses as objects or as the cursor's text.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from streaming import ocsf
from streaming.formats import (
    CEF_PRODUCT,
    CEF_VENDOR,
    CEF_VERSION,
    _dumps,
    _text,
    cef_event,
    ocsf_event,
)
from streaming.mapping import ACTIONS, FAMILY_DEFAULTS, mapping_for
from streaming.times import as_moment, utc_iso
from tests.streaming.test_formats import HOSTILE, event

_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|", "\n": " ", "\r": " "})
_VALUE = str.maketrans({"\\": "\\\\", "=": "\\=", "\n": "\\n", "\r": "\\r"})


def reference_cef(event: dict[str, Any]) -> str:
    mapping = mapping_for(event["event_type"], event["event_action"])
    head = "|".join(
        text.translate(_HEADER)
        for text in [
            "CEF:0",
            CEF_VENDOR,
            CEF_PRODUCT,
            CEF_VERSION,
            event["event_action"],
            f"{event['event_type']}: {event['event_action']}",
            str(mapping.cef_severity),
        ]
    )
    extension = [
        ("rt", int(as_moment(event["event_time"]).timestamp() * 1000)),
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
    ]
    pairs = " ".join(f"{k}={_text(v).translate(_VALUE)}" for k, v in extension if v is not None)
    return f"{head}|{pairs}"


def reference_ocsf(event: dict[str, Any]) -> str:
    return _dumps(ocsf.event_model(event).model_dump(mode="json", exclude_none=True))


NASTY = [
    HOSTILE,
    "",
    "line\nbreak\rreturn\r\n",
    "a|b|c",
    "k=v x=y",
    "back\\slash\\",
    "\\=\\|\\n",
    "é漢字🙂\u2028\u2029\x85",
    " cs1=org_evil",
    "CEF:0|evil|x|1|y|z|10|cs1=org_evil",
]
KEYS = sorted({*ACTIONS, *((family, "brand_new") for family in FAMILY_DEFAULTS), ("odd", "x")})


def _as_cursor_reads(stored: dict[str, Any]) -> dict[str, Any]:
    """Times as the cursor's text and the address as text, as a batch is read."""
    read = dict(stored)
    for name in ("event_time", "received_at", "retention_guaranteed_until"):
        if isinstance(read[name], datetime):
            read[name] = utc_iso(read[name])
    if read["ip_address"] is not None:
        read["ip_address"] = str(read["ip_address"])
    return read


def hostile_events() -> list[dict[str, Any]]:
    found = []
    for i, ((family, action), text) in enumerate(itertools.product(KEYS, NASTY[:4])):
        found.append(
            event(
                id=f"evt_{text[:20]}",
                event_type=family,
                event_action=action,
                user_id=text if i % 3 else None,
                user_email=None if i % 5 == 0 else f"{text[:30]}@x",
                user_agent=text or None,
                resource_type=("user", "source", None, text)[i % 4],
                resource_id=None if i % 7 == 0 else text[:50],
                session_id=("", None, text)[i % 3],
                details={"text": text, "role": text[:10]} if i % 2 else {"new_role": "admin"},
            )
        )
    for text in NASTY:
        found.append(
            event(
                event_action=f"search{text[:40]}",
                event_type=f"log_access{text[:40]}",
                organization_id="org_a",
                user_id=text,
                user_email=text,
                user_agent=text,
                resource_type=text,
                resource_id=text,
                session_id=text,
                details={text[:100]: text, "nested": [None, {"n": None, "t": text}]},
            )
        )
    big = 123456789012345678901234567890
    found += [
        event(details={"big": big, "neg": -(2**70), "f": 1e300, "t": True, "n": None}),
        event(ingest_seq=2**70, details={"x": 1}),
        event(details={"text": "x" * 61_440, "é": "漢" * 20_000}),
        event(details={}, ip_address=None, user_agent="", received_at=None, ingest_seq=None),
        event(user_id=None, user_email=None, session_id=None, resource_type=None, resource_id=None),
        event(user_id="", user_email="", resource_type="user", resource_id=""),
        event(
            event_type="login",
            event_action="login_failed",
            resource_type="user",
            resource_id="u2",
            ip_address=ipaddress.ip_address("2001:db8::1"),
        ),
        event(
            event_time=datetime(2025, 1, 15, 14, 32, 15, tzinfo=timezone(timedelta(hours=2))),
            received_at=datetime(2025, 1, 15, 14, 32, 16, 500000, tzinfo=UTC),
        ),
        event(event_time=datetime(2025, 1, 15, tzinfo=UTC)),
        # Text the cursor never writes, but a time as text all the same.
        event(event_time="2025-01-15T14:32:15,123456Z", received_at="2025-01-15 14:32:16Z"),
        event(event_time="2025-01-15T14:32:15.000000+00:00"),
        event(event_time=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ]
    return found + [_as_cursor_reads(e) for e in found]


EVENTS = hostile_events()


@pytest.mark.parametrize("index", range(len(EVENTS)))
def test_cef_event_is_the_reference_byte_for_byte(index: int) -> None:
    assert cef_event(EVENTS[index]) == reference_cef(EVENTS[index])


@pytest.mark.parametrize("index", range(len(EVENTS)))
def test_ocsf_event_is_the_library_models_dump_byte_for_byte(index: int) -> None:
    assert ocsf_event(EVENTS[index]) == reference_ocsf(EVENTS[index])


def test_the_hostile_events_reach_every_path() -> None:
    classes = {mapping_for(e["event_type"], e["event_action"]).ocsf.uid for e in EVENTS}
    assert classes == {6001, 6003, 3001, 3002, 3004, 3005}
    assert any(isinstance(e["event_time"], str) for e in EVENTS)
    assert any(len(json.dumps(e["details"])) > 60_000 for e in EVENTS)
