"""Hypothesis strategies for the hostile corpus every entry point must survive: wrong types,
NUL bytes, huge details, bad IPs, naive or future timestamps, SQL in every string, unicode
(including lone surrogates), deep nesting and duplicate ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

SQL = [
    "'; DROP TABLE audit_events; --",
    "' OR '1'='1",
    "1; SELECT pg_sleep(10)",
    "$$; TRUNCATE audit_events; $$",
    "\\x00",
    '=HYPERLINK("http://evil")',
]
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SQL),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10).map(lambda s: s + "\x00" + s),
    st.just("\ud800 lone surrogate"),
    st.text(min_size=1, max_size=3).map(lambda s: s * 400),
    st.just("é漢字🙂 ünïcödé"),
)
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
TIMESTAMPS = st.one_of(
    st.just("2025-01-15T14:32:15.123Z"),
    st.datetimes(
        min_value=datetime(1960, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda d: d.isoformat()  # naive
    ),
    st.just((datetime.now(UTC) + timedelta(hours=1)).isoformat()),
    st.just("2025-13-45T99:99:99Z"),
    st.just("yesterday"),
    st.integers(min_value=0, max_value=2_000_000_000),
    TEXT,
)
IPS = st.one_of(
    st.just("192.168.1.100"),
    st.just("2001:db8::1"),
    st.just("fe80::1%eth0"),
    st.just("256.1.1.1"),
    st.just("10.0.0.0/8"),
    st.just("01.2.3.4"),
    st.ip_addresses().map(str),
    TEXT,
    WRONG,
)
JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), TEXT, st.sampled_from(SQL)
)
DETAILS = st.one_of(
    st.recursive(
        JSON_LEAF,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(TEXT, children, max_size=3)
        ),
        max_leaves=12,
    ),
    st.just({"blob": "x" * 70_000}),
    st.integers(min_value=30, max_value=200).map(
        lambda n: {"nest": eval("[" * n + "]" * n)}  # noqa: S307 - builds a deep list literal
    ),
    st.just({"nul": "a\x00b"}),
    st.just({"a\x00": 1}),
    st.just({"nan": float("nan")}),
)
FAMILIES = st.one_of(
    st.sampled_from(
        ["log_access", "config_change", "user_management", "data_modification", "login", "api_call"]
    ),
    TEXT,
    WRONG,
)
ORGS = st.one_of(st.sampled_from(["org_a", "org_b"]), TEXT, WRONG)
IDS = st.one_of(st.sampled_from(["dup_1", "dup_2", "dup_3"]), st.none(), TEXT, WRONG)


@st.composite
def hostile_events(draw: st.DrawFn) -> Any:
    """A decoded event that may be wrong in any field, or not an object at all."""
    if draw(st.integers(min_value=0, max_value=30)) == 0:
        return draw(st.one_of(WRONG, TEXT))
    event: dict[str, Any] = {
        "id": draw(IDS),
        "timestamp": draw(TIMESTAMPS),
        "event_type": draw(FAMILIES),
        "event_action": draw(st.one_of(st.sampled_from(["search", "view_logs"]), TEXT, WRONG)),
        "organization_id": draw(ORGS),
        "user_id": draw(st.one_of(st.just("user_1"), TEXT, WRONG)),
        "user_email": draw(st.one_of(st.just("john@company.com"), TEXT)),
        "ip_address": draw(IPS),
        "user_agent": draw(st.one_of(st.just("Mozilla/5.0"), TEXT)),
        "resource_type": draw(st.one_of(st.just("source"), TEXT)),
        "resource_id": draw(st.one_of(st.just("source_production_api"), TEXT)),
        "details": draw(DETAILS),
        "session_id": draw(st.one_of(st.just("sess_1"), TEXT, WRONG)),
    }
    for key in draw(st.sets(st.sampled_from(sorted(event)), max_size=3)):
        del event[key]
    if draw(st.integers(min_value=0, max_value=20)) == 0:
        event[draw(st.sampled_from(["extra", "event_time", "\x00"]))] = 1
    return event


@st.composite
def mostly_valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with a small chance of one hostile field: most of a batch is accepted."""
    event: dict[str, Any] = {
        "id": draw(st.sampled_from([f"e{i}" for i in range(40)])),
        "timestamp": "2025-01-15T14:32:15.123Z",
        "event_type": "log_access",
        "event_action": "search",
        "organization_id": draw(st.sampled_from(["org_a", "org_b"])),
        "user_id": draw(st.text(max_size=20)),
        "ip_address": "10.1.2.3",
        "details": {"query": draw(st.one_of(st.text(max_size=20), st.sampled_from(SQL)))},
    }
    if draw(st.booleans()):
        hostile = draw(hostile_events())
        if isinstance(hostile, dict) and hostile:
            key = draw(st.sampled_from(sorted(hostile)))
            event[key] = hostile[key]
    return event
