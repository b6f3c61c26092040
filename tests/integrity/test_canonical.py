"""The canonical event bytes: PostgreSQL and Python must produce exactly the same ones."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrity.canonical import (
    FIELDS,
    FORMAT_V2,
    apply_sql_settings,
    canonical_bytes,
    canonical_sql,
    format_inet,
    jsonb_text,
    leaf_hash,
    leaf_hash_sql,
    parse_details,
    record_sql,
)
from sql.event_store import insert_events
from sql.gateway import Database
from sql.vocabulary import EVENT_COLUMNS, SYSTEM_COLUMNS
from tests.factories import event_row

# Text PostgreSQL accepts (no NUL), including what breaks naive formats: newlines, colons, "-".
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
SPECIAL = st.sampled_from(["", "-", "\n", "12:ab", "a\nb", "é☃😀", "\\", '"'])
MAYBE_TEXT = st.none() | TEXT | SPECIAL
NUMBER_TEXT = st.sampled_from(
    ["0", "-0", "1.50", "1e3", "1E+2", "-2.5e-3", "12345678901234567890.000", "3.14", "7"]
)


@st.composite
def json_text(draw, depth: int = 2) -> str:
    """JSON as a producer might write it: numbers in any notation, keys in any order."""
    kinds = ["str", "num", "lit"] + (["obj", "arr"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "str":
        import json

        return json.dumps(draw(TEXT | SPECIAL), ensure_ascii=draw(st.booleans()))
    if kind == "num":
        return draw(NUMBER_TEXT)
    if kind == "lit":
        return draw(st.sampled_from(["true", "false", "null"]))
    if kind == "arr":
        items = draw(st.lists(json_text(depth - 1), max_size=3))
        return "[" + ",".join(items) + "]"
    import json

    keys = draw(st.lists(TEXT | SPECIAL, max_size=4, unique=True))
    values = [draw(json_text(depth - 1)) for _ in keys]
    return "{" + ", ".join(f"{json.dumps(k)}:{v}" for k, v in zip(keys, values, strict=True)) + "}"


IPS = st.sampled_from(
    [
        None,
        "192.168.1.100",
        "10.0.0.0/8",
        "10.1.2.3/8",
        "2001:db8::1",
        "2001:db8:0:0:1:0:0:1",
        "::ffff:1.2.3.4",
        "::1.2.3.4",
        "::1",
        "fe80::/10",
    ]
)
TIMES = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text_fields=st.fixed_dictionaries(
        {
            "user_id": MAYBE_TEXT,
            "user_email": MAYBE_TEXT,
            "user_agent": MAYBE_TEXT,
            "resource_type": MAYBE_TEXT,
            "resource_id": MAYBE_TEXT,
            "session_id": MAYBE_TEXT,
            "event_action": TEXT.filter(bool) | SPECIAL.filter(bool),
        }
    ),
    details=json_text().filter(lambda t: t.startswith("{")) | st.just("{}"),
    ip=IPS,
    when=TIMES,
)
def test_sql_and_python_canonical_bytes_agree(db: Database, text_fields, details, ip, when):
    row = event_row(event_time=when, ip_address=ip, details=details, **text_fields)
    with db.writer() as w:
        insert_events(w, [row])
    with db.admin() as s:
        apply_sql_settings(s)
        stored = s.execute(
            f"SELECT convert_to({canonical_sql('e')}, 'UTF8') AS canon,"
            f" {record_sql('e')} AS canon_v2, {leaf_hash_sql('e', FORMAT_V2)} AS leaf_v2,"
            " received_at, retention_guaranteed_until, ingest_seq"
            " FROM audit_events e WHERE id = :id",
            {"id": row[1]},
        ).dicts()[0]
    event = dict(zip(EVENT_COLUMNS, row, strict=True))
    event.update({k: stored[k] for k in SYSTEM_COLUMNS})
    # What the producer sent (details as written, ip as text) gives the stored bytes.
    assert canonical_bytes(event) == bytes(stored["canon"])
    assert canonical_bytes(event, FORMAT_V2) == bytes(stored["canon_v2"])
    assert leaf_hash(event, FORMAT_V2) == bytes(stored["leaf_v2"])
    # ... and so does the text an export writes (timestamps as ISO text with an offset).
    exported = {
        **event,
        "event_time": when.isoformat(),
        "received_at": stored["received_at"].isoformat().replace("+00:00", "Z"),
    }
    assert canonical_bytes(exported, FORMAT_V2) == bytes(stored["canon_v2"])


def test_layout_is_documented_field_per_line():
    event = {f: None for f in FIELDS}
    event.update(
        organization_id="org_1",
        id="a\nb",
        event_time=datetime(2025, 1, 15, 14, 32, 15, 250000, tzinfo=UTC),
        event_type="log_access",
        event_action="search",
        user_id="",
        details={"b": 1, "aa": [Decimal("1.50"), None]},
        received_at=datetime(2025, 1, 15, 14, 32, 16, tzinfo=UTC),
        retention_guaranteed_until="2026-01-15T14:32:15+01:00",
        ingest_seq=7,
        ip_address=ipaddress.ip_address("192.168.1.100"),
    )
    assert canonical_bytes(event).decode() == (
        "auditlens-event-v1\n5:org_1\n3:a\nb\n2025-01-15 14:32:15.25+00\n10:log_access\n"
        "6:search\n0:\n-\n192.168.1.100/32\n-\n-\n-\n"
        '{"b": 1, "aa": [1.50, null]}\n-\n2025-01-15 14:32:16+00\n2026-01-15 13:32:15+00\n7\n'
    )


def test_v2_layout_is_the_binary_record_documented():
    event = {f: None for f in FIELDS}
    event.update(
        organization_id="o",
        id="é",
        event_time="2000-01-01T00:00:01.5Z",
        event_type="t",
        event_action="a",
        details={"k": 1},
        ip_address="10.0.0.0/8",
        received_at="2000-01-01T00:00:00Z",
        retention_guaranteed_until="1999-12-31T23:59:59.999999Z",
        ingest_seq=7,
    )
    data = canonical_bytes(event, FORMAT_V2)
    assert data.startswith(b"auditlens-event-v2\n\x00\x00\x00\x10")
    body = data[len(b"auditlens-event-v2\n") + 4 :]
    expected = (
        b"\x00\x00\x00\x19\x00\x00\x00\x01o"  # text, 1 byte
        + b"\x00\x00\x00\x19\x00\x00\x00\x02\xc3\xa9"  # UTF-8 length, not characters
        + b"\x00\x00\x04\xa0\x00\x00\x00\x08"
        + (1_500_000).to_bytes(8, "big")
    )
    assert body.startswith(expected)
    assert b"\x00\x00\x03\x65\x00\x00\x00\x08\x02\x08\x00\x04\x0a\x00\x00\x00" in body
    assert b'\x00\x00\x0e\xda\x00\x00\x00\x09\x01{"k": 1}' in body
    assert body.endswith(
        (-1).to_bytes(8, "big", signed=True)  # retention guarantee: 1 µs before 2000
        + b"\x00\x00\x00\x14\x00\x00\x00\x08"  # int8, 8 bytes
        + (7).to_bytes(8, "big")
    )
    assert b"\x00\x00\x00\x19\xff\xff\xff\xff" in body  # a NULL text field


def test_jsonb_text_matches_postgres_rules():
    assert jsonb_text(parse_details('{"bb":1e3,"a":-0,"c":"\\u0001\\n/é"}')) == (
        '{"a": 0, "c": "\\u0001\\n/é", "bb": 1000}'
    )


def test_inet_text_keeps_the_mask_and_embedded_ipv4():
    assert format_inet("::ffff:1.2.3.4") == "::ffff:1.2.3.4/128"
    assert format_inet(ipaddress.ip_network("10.0.0.0/8")) == "10.0.0.0/8"
    assert format_inet("2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1/128"


def test_time_strings_from_exports_normalise_to_utc():
    from integrity.canonical import format_time

    assert format_time("2025-01-15 15:32:15.120000+01") == "2025-01-15 14:32:15.12+00"
    assert format_time("2025-01-15T14:32:15Z") == "2025-01-15 14:32:15+00"
    assert format_time(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)) == (
        "2025-01-01 00:00:00.000001+00"
    )
