"""The query syntax's `-term` (negation) and `stream:` (AuditLens's own use): parsing,
round trips, hostile input and the sentence printed on exports."""

from __future__ import annotations

import pytest

from sql.event_filter import EventFilter, QuerySyntaxError


@pytest.mark.parametrize(
    "query",
    [
        "-action:search",
        "-user:john@company.com user:ann",
        '-"dry run" -"-5" text',
        "-ip:10.0.0.0/8 ip:10.1.2.3",
        "family:login -family:login",
        "stream:auditlens -action:view_logs",
        '"-literal dash" -resource:"a b"',
    ],
)
def test_round_trip(query):
    parsed = EventFilter.parse(query)
    assert EventFilter.parse(parsed.to_query()) == parsed


def test_negated_terms_are_kept_apart_from_positive_ones():
    f = EventFilter.parse('action:export -action:search -"dry run" -5 "-5"')
    assert f.actions == ("export",)
    assert f.excluded == (("actions", "search"), ("texts", "dry run"), ("texts", "5"))
    assert f.texts == ("-5",)  # a quoted dash is text
    assert f.to_query() == 'action:export "-5" -action:search -"dry run" -5'
    assert f.describe() == (
        'events where action is "export"; and details contain "-5"; and action is not'
        ' "search"; and details contain none of "dry run" and "5"'
    )


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("-created:2024-01-01", "created: cannot be negated", 1),
        ("-stream:auditlens", "stream: cannot be negated", 1),
        ("stream:everything", "stream: is auditlens or organization", 8),
        ("stream:auditlens stream:auditlens", "stream: may appear only once", 18),
        ("-bogus:x", "unknown qualifier 'bogus'", 2),
        ("-ip:not-an-ip", "ip: needs an address or CIDR", 5),
        ("-user:", "user: needs a value", 7),
        ('-"never closed', "this quote is never closed", 2),
        ("-x\x00", "control character U+0000", 3),
        ("-" + "a" * 600, "at most 512", 2),
    ],
)
def test_hostile_negations_are_refused_with_a_pointer(query, message, column):
    with pytest.raises(QuerySyntaxError) as caught:
        EventFilter.parse(query)
    assert message in str(caught.value)
    assert f"column {column}:" in str(caught.value)


def test_many_negations_are_capped_like_any_term():
    with pytest.raises(QuerySyntaxError, match="more than 200 terms"):
        EventFilter.parse(" ".join(f"-action:a{i}" for i in range(201)))


def test_exclusions_built_in_code_are_checked_too():
    with pytest.raises(QuerySyntaxError, match=r"ip: needs an address"):
        EventFilter(excluded=(("ips", "nope"),))
    with pytest.raises(QuerySyntaxError, match="pairs"):
        EventFilter(excluded=(("details", "x"),))
    assert EventFilter(excluded=(("ips", "10.0.0.1/32"),)).excluded == (("ips", "10.0.0.1"),)


def test_stream_selects_own_use_and_is_said():
    own = EventFilter.parse("stream:AuditLens action:search")
    assert own.own_use and own.actions == ("search",)
    assert own.to_query() == "action:search stream:auditlens"
    assert own.describe().startswith("AuditLens's own use (its meta-audit): events where")
    assert EventFilter.parse("stream:organization") == EventFilter()
    where, _ = own.to_sql()
    assert where.startswith("own_use AND ")
    assert EventFilter().to_sql()[0] == "NOT own_use"
