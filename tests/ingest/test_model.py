"""The event model: every rule names its field, and no input makes it do anything but accept
or reject (property-based over the hostile corpus)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import Enum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.model import (
    EXTRA_FAMILIES_ENV,
    AuditEvent,
    EventRejected,
    _details_checked,
    normalise_event,
    serialise_details,
    validate_event,
)
from sql.event_store import insert_events
from sql.vocabulary import EVENT_COLUMNS
from tests.ingest.hostile import DETAILS, hostile_events


class Color(Enum):
    RED = "red"


GOOD = {
    "id": "audit_abc123",
    "timestamp": "2025-01-15T14:32:15.123Z",
    "event_type": "log_access",
    "event_action": "search",
    "user_id": "user_xyz789",
    "user_email": "john@company.com",
    "organization_id": "org_123",
    "ip_address": "192.168.1.100",
    "user_agent": "Mozilla/5.0",
    "resource_type": "source",
    "resource_id": "source_production_api",
    "details": {"query": "level:error AND user_id:12345", "results_count": 47},
    "session_id": "sess_abc123",
}


def with_(**changes):
    event = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            event.pop(key)
        else:
            event[key] = value
    return event


def test_the_request_example_is_accepted_and_maps_to_event_columns():
    event = validate_event(GOOD)
    row = event.to_row()
    assert len(row) == len(EVENT_COLUMNS)
    values = dict(zip(EVENT_COLUMNS, row, strict=True))
    assert values["event_time"] == datetime(2025, 1, 15, 14, 32, 15, 123000, tzinfo=UTC)
    assert values["id"] == "audit_abc123" and values["organization_id"] == "org_123"
    assert values["details"] == '{"query":"level:error AND user_id:12345","results_count":47}'
    assert event.details["results_count"] == 47
    # The constructor applies the same rules and gives the same row.
    assert AuditEvent(**GOOD).to_row() == row


def test_missing_id_gets_a_uuid7():
    row = normalise_event(with_(id=...))
    assert len(row[1]) == 36 and row[1][14] == "7"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"timestamp": ...}, "timestamp", "required"),
        ({"event_type": ...}, "event_type", "required"),
        ({"event_action": ...}, "event_action", "required"),
        ({"organization_id": ...}, "organization_id", "required"),
        ({"event_type": "coffee"}, "event_type", "unknown family"),
        ({"timestamp": "2025-01-15T14:32:15"}, "timestamp", "no time zone"),
        ({"timestamp": "last tuesday"}, "timestamp", "not an ISO 8601"),
        ({"timestamp": 1736951535}, "timestamp", "must be an ISO 8601 string"),
        ({"ip_address": "999.1.1.1"}, "ip_address", "not an IPv4 or IPv6"),
        ({"ip_address": "fe80::1%eth0"}, "ip_address", "not an IPv4 or IPv6"),
        ({"user_email": "a" * 321}, "user_email", "at most 320"),
        ({"event_type": "x" * 51}, "event_type", "at most 50"),
        ({"details": [1, 2]}, "details", "must be a JSON object"),
        ({"details": {"blob": "x" * 65_536}}, "details", "64 KiB"),
        ({"details": {"a": "b\x00c"}}, "details", "NUL"),
        ({"details": {"a": float("nan")}}, "details", "NaN"),
        ({"user_agent": "Mozilla\x00"}, "user_agent", "NUL"),
        ({"resource_id": "\ud800"}, "resource_id", "surrogate"),
        ({"user_id": 12345}, "user_id", "must be a string, got int"),
        ({"organization_id": "org 1; DROP"}, "organization_id", "letters, digits"),
        ({"surprise": 1}, "event", "unknown field 'surprise'"),
        ({"event_action": "  "}, "event_action", "empty"),
    ],
)
def test_each_rule_names_its_field(changes, field, words):
    with pytest.raises(EventRejected) as caught:
        validate_event(with_(**changes))
    assert caught.value.field == field
    assert words in caught.value.reason
    assert str(caught.value).startswith(f"{field}: ")
    assert "\n" not in str(caught.value)


def test_future_limit_is_five_minutes():
    now = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    ok = (now + timedelta(minutes=4, seconds=59)).isoformat()
    late = (now + timedelta(minutes=5, seconds=1)).isoformat()
    assert validate_event(with_(timestamp=ok), now=now).timestamp > now
    with pytest.raises(EventRejected, match="5 minutes in the future"):
        validate_event(with_(timestamp=late), now=now)


def test_offsets_are_normalised_to_utc_and_ipv6_is_accepted():
    event = validate_event(with_(timestamp="2025-01-15T16:32:15+02:00", ip_address="2001:DB8::1"))
    assert event.timestamp == datetime(2025, 1, 15, 14, 32, 15, tzinfo=UTC)
    assert event.ip_address == "2001:db8::1"


def test_literal_backslash_u0000_text_is_not_a_nul():
    assert validate_event(with_(details={"q": "\\u0000"})).details == {"q": "\\u0000"}


def test_more_families_are_a_setting(monkeypatch):
    with pytest.raises(EventRejected):
        validate_event(with_(event_type="billing"))
    monkeypatch.setenv(EXTRA_FAMILIES_ENV, "billing, sso")
    assert validate_event(with_(event_type="billing")).event_type == "billing"


@settings(max_examples=300, deadline=None)
@given(hostile_events())
def test_hostile_input_is_accepted_or_rejected_never_crashes(event):
    try:
        accepted = validate_event(event)
    except EventRejected as exc:
        assert exc.field and exc.reason and "\n" not in str(exc)
    else:
        assert len(accepted.to_row()) == len(EVENT_COLUMNS)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hostile_events())
def test_what_the_model_accepts_the_database_stores(db, event):
    """Acceptance is a promise: an accepted event must never fail in PostgreSQL."""
    try:
        row = normalise_event(event)
    except EventRejected:
        return
    with db.writer() as session:
        insert_events(session, [row])


@pytest.mark.parametrize(
    ("field", "value"),
    [("ip_address", "10.0.0.1\n"), ("organization_id", "org_a\n"), ("event_type", "login\n")],
)
def test_a_trailing_newline_is_not_a_valid_value(field, value):
    with pytest.raises(EventRejected) as caught:
        validate_event(with_(**{field: value}))
    assert caught.value.field == field


@settings(max_examples=400, deadline=None)
@given(st.one_of(DETAILS, st.dictionaries(st.text(max_size=5), DETAILS, max_size=4)))
def test_details_by_orjson_are_what_the_stdlib_path_gives(details):
    """serialise_details tries orjson first: it must accept and reject exactly what the stdlib
    encoder does, and its text must decode to the same value."""
    try:
        expected = _details_checked(details)
    except EventRejected as exc:
        with pytest.raises(EventRejected) as caught:
            serialise_details(details)
        assert (caught.value.field, caught.value.reason) == (exc.field, exc.reason)
    else:
        assert json.loads(serialise_details(details)) == json.loads(expected)


def test_details_of_python_objects_are_written_as_the_stdlib_path_writes_them():
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    value = {"when": when, "n": Color.RED, "big": 2**70, "k": {1: "one"}, "t": (1, 2)}
    assert json.loads(serialise_details(value)) == json.loads(_details_checked(value))
    assert json.loads(serialise_details(value)) == {
        "when": when.isoformat(),
        "n": "red",
        "big": 2**70,
        "k": {"1": "one"},
        "t": [1, 2],
    }
