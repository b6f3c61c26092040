"""Formats as data: each family's OCSF class and activity, CEF escaping, native JSON."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sql.vocabulary import EVENT_COLUMNS, FAMILIES, SYSTEM_COLUMNS
from streaming.formats import (
    FORMATS,
    cef_event,
    cef_finding,
    encoder,
    load_json,
    native_event,
    ocsf_event,
    ocsf_finding,
)
from streaming.mapping import ACTIONS, FAMILY_DEFAULTS, mapping_for

HOSTILE = 'a|b=c\\d\ne\rf "q" ]} é漢字🙂 ' + "x" * 60_000


def event(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "organization_id": "org_a",
        "id": "evt_1",
        "event_time": datetime(2025, 1, 15, 14, 32, 15, 123456, tzinfo=UTC),
        "event_type": "log_access",
        "event_action": "search",
        "user_id": "user_xyz789",
        "user_email": "john@company.com",
        "ip_address": "192.168.1.100",
        "user_agent": "Mozilla/5.0",
        "resource_type": "source",
        "resource_id": "source_production_api",
        "details": {"query": "level:error", "results_count": 47},
        "session_id": "sess_abc123",
        "received_at": datetime(2025, 1, 15, 14, 32, 16, tzinfo=UTC),
        "retention_guaranteed_until": datetime(2026, 1, 15, tzinfo=UTC),
        "ingest_seq": 42,
    }
    values.update(fields)
    return values


def finding(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "organization_id": "org_a",
        "finding_id": "fnd_1",
        "created_at": datetime(2025, 1, 16, tzinfo=UTC),
        "user_id": "user_xyz789",
        "user_email": "john@company.com",
        "day": date(2025, 1, 15),
        "window_start": datetime(2025, 1, 15, tzinfo=UTC),
        "window_end": datetime(2025, 1, 16, tzinfo=UTC),
        "score": 0.93,
        "severity": "high",
        "detectors": ["bulk_export", "off_hours"],
        "title": "Bulk export at 2 a.m.",
        "explanation": "exported 10,000 rows",
        "evidence_query": "user:user_xyz789",
    }
    values.update(fields)
    return values


# (family, action) -> (class_uid, activity_id, status_id): one row per family at least.
EXPECTED = [
    ("log_access", "search", 6001, 5, 1),
    ("log_access", "view_logs", 6001, 2, 1),
    ("log_access", "view_entry", 6001, 2, 1),
    ("log_access", "download", 6001, 7, 1),
    ("data_modification", "export", 6001, 7, 1),
    ("data_modification", "delete_logs", 6001, 4, 1),
    ("config_change", "update_retention_policy", 3004, 3, 1),
    ("config_change", "update_alert", 3004, 3, 1),
    ("user_management", "invite_user", 3001, 1, 1),
    ("user_management", "delete_account", 3001, 6, 1),
    ("user_management", "change_role", 3005, 1, 1),
    ("login", "login", 3002, 1, 1),
    ("login", "login_failed", 3002, 1, 2),
    ("login", "logout", 3002, 2, 1),
    ("api_call", "GET", 6003, 99, 1),
]


def test_every_family_is_tested() -> None:
    assert {row[0] for row in EXPECTED} == set(FAMILIES) == FAMILY_DEFAULTS.keys()
    assert {family for family, _ in ACTIONS} <= set(FAMILIES)


@pytest.mark.parametrize(("family", "action", "class_uid", "activity", "status"), EXPECTED)
def test_ocsf_class_and_activity_per_family(
    family: str, action: str, class_uid: int, activity: int, status: int
) -> None:
    record = json.loads(ocsf_event(event(event_type=family, event_action=action)))
    assert record["class_uid"] == class_uid
    assert record["activity_id"] == activity
    assert record["type_uid"] == class_uid * 100 + activity
    assert record["category_uid"] == class_uid // 1000
    assert record["status_id"] == status
    assert record["metadata"]["uid"] == "evt_1"
    assert record["metadata"]["version"] == "1.8.0"
    assert record["metadata"]["tenant_uid"] == "org_a"
    assert record["time"] == 1736951535123
    assert record["actor"]["user"]["uid"] == "user_xyz789"
    assert record["src_endpoint"] == {"ip": "192.168.1.100"}
    # CEF carries the same class: one table decides both.
    assert f"cs6={record['type_uid']}" in cef_event(event(event_type=family, event_action=action))


def test_web_resources_carry_the_resource() -> None:
    record = json.loads(ocsf_event(event()))
    assert record["web_resources"] == [{"type": "source", "uid": "source_production_api"}]
    assert record["unmapped"]["details"] == {"query": "level:error", "results_count": 47}


def test_an_unknown_action_falls_back_to_its_family() -> None:
    assert mapping_for("config_change", "brand_new").ocsf.uid == 3004
    assert mapping_for("no_such_family", "x").ocsf.uid == 6001


def test_finding_is_a_detection_finding() -> None:
    record = json.loads(ocsf_finding(finding()))
    assert (record["class_uid"], record["activity_id"], record["type_uid"]) == (2004, 1, 200401)
    assert record["severity_id"] == 4
    assert record["finding_info"]["uid"] == "fnd_1"
    assert record["finding_info"]["title"] == "Bulk export at 2 a.m."


def test_native_json_is_the_stored_event_exactly() -> None:
    stored = event(details={"text": HOSTILE})
    line = native_event(stored)
    assert "\n" not in line and "\r" not in line
    back = json.loads(line)
    assert list(back) == [*EVENT_COLUMNS, *SYSTEM_COLUMNS]
    assert back["details"] == {"text": HOSTILE}
    assert back["event_time"] == "2025-01-15T14:32:15.123456Z"
    assert back["ingest_seq"] == 42


def test_native_json_bytes_are_fixed() -> None:
    # Times always carry microseconds (a zero fraction too) and end in Z; an inet is its text.
    stored = event(
        received_at=datetime(2025, 1, 15, 14, 32, 16, tzinfo=UTC),
        ip_address=ipaddress.ip_address("10.0.0.1"),
        details={"a": [1, 2.5, None, True], "é": "漢"},
    )
    assert native_event(stored) == (
        '{"organization_id":"org_a","id":"evt_1","event_time":"2025-01-15T14:32:15.123456Z",'
        '"event_type":"log_access","event_action":"search","user_id":"user_xyz789",'
        '"user_email":"john@company.com","ip_address":"10.0.0.1","user_agent":"Mozilla/5.0",'
        '"resource_type":"source","resource_id":"source_production_api",'
        '"details":{"a":[1,2.5,null,true],"é":"漢"},"session_id":"sess_abc123",'
        '"received_at":"2025-01-15T14:32:16.000000Z",'
        '"retention_guaranteed_until":"2026-01-15T00:00:00.000000Z","ingest_seq":42}'
    )


@pytest.mark.parametrize("name", list(FORMATS))
def test_integers_beyond_64_bits_in_details_are_sent_exactly(name: str) -> None:
    # The store keeps any JSON integer; one orjson cannot write must not stop the stream.
    big = 123456789012345678901234567890
    line = encoder(name)(event(details={"n": big, "m": -(2**70)}))
    assert "\n" not in line
    assert str(big) in line and str(-(2**70)) in line
    if name == "json":
        assert json.loads(line)["details"] == {"n": big, "m": -(2**70)}


@pytest.mark.parametrize(
    "text",
    [
        '{"n":123456789012345678901234567890,"m":-1180591620717411303424}',
        '{"n":18446744073709551616,"m":-9223372036854775809}',
        '{"s":"1234567890123456789012","f":0.1000000000000000000001}',
        '{"a":[1,2.5,null,true,{"b":"\\u00e9\\n"}],"c":1e400}',
        '{"q": "level:error", "results_count": 47}',
        json.dumps({"text": HOSTILE}, ensure_ascii=False),
    ],
)
def test_details_are_read_exactly(text: str) -> None:
    # orjson would read integers beyond 64 bits as floats, silently.
    assert load_json(text) == json.loads(text)
    assert [type(v) for v in load_json(text).values()] == [
        type(v) for v in json.loads(text).values()
    ]


_UNESCAPE = {"n": "\n", "r": "\r"}
_CEF_HEADER = re.compile(r"((?:[^|\\]|\\.)*)\|")


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """A strict reader of what the CEF spec allows: 7 header fields, then key=value pairs."""
    assert "\n" not in line and "\r" not in line
    header = []
    rest = line
    for _ in range(7):
        match = _CEF_HEADER.match(rest)
        assert match, rest[:80]
        header.append(re.sub(r"\\(.)", r"\1", match.group(1)))
        rest = rest[match.end() :]
    pairs: dict[str, str] = {}
    # A key starts after a space at an unescaped `key=`; values keep escaped `\=`.
    for match in re.finditer(r"(\w+)=((?:[^\\=]|\\.)*?)(?= \w+=|$)", rest):
        value = match.group(2)
        value = re.sub(
            r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), value
        )
        assert match.group(1) not in pairs, f"field {match.group(1)} forged twice"
        pairs[match.group(1)] = value
    return header, pairs


def test_cef_hostile_values_cannot_forge_fields() -> None:
    hostile = event(
        event_action="search|x=1",
        user_id="u cs1=org_evil",
        user_email="a=b",
        details={"text": HOSTILE, "cs1": "org_evil"},
    )
    header, pairs = parse_cef(cef_event(hostile))
    assert header[:4] == ["CEF:0", "AuditLens", "AuditLens", "1"]
    assert header[4] == "search|x=1"
    assert pairs["cs1"] == "org_a"
    assert pairs["suid"] == "u cs1=org_evil"
    assert pairs["suser"] == "a=b"
    assert json.loads(pairs["cs5"])["text"] == HOSTILE
    assert pairs["externalId"] == "evt_1"


def test_cef_header_line_breaks_cannot_start_a_record() -> None:
    line = cef_finding(finding(title="evil\nCEF:0|x|y|1|z|w|10|", explanation="a\\b\r\n"))
    header, pairs = parse_cef(line)
    assert header[5] == "evil CEF:0|x|y|1|z|w|10|"
    assert pairs["msg"] == "a\\b\r\n"


def test_every_format_has_an_event_and_a_finding_encoder() -> None:
    for name in FORMATS:
        assert encoder(name)(event())
        assert encoder(name, finding=True)(finding())
    with pytest.raises(ValueError, match="format: must be one of"):
        encoder("xml")
