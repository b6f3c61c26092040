"""The query syntax: parse/to_query round-trip, errors that point at the bad part, hostile
input, and SQL that selects exactly the described events with bound parameters only."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sql.event_filter import MAX_QUERY_LENGTH, WEEKDAYS, EventFilter, QuerySyntaxError
from sql.event_store import insert_events
from tests.factories import event_row

# Any printable text, including quotes, colons, backslashes, SQL and non-ASCII.
value_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
day_moments = st.dates(
    min_value=datetime(2000, 1, 1).date(), max_value=datetime(2090, 1, 1).date()
).map(lambda d: datetime(d.year, d.month, d.day, tzinfo=UTC))
ips = st.one_of(
    st.ip_addresses().map(str),
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}"),
)
values = st.lists(value_text, max_size=3).map(tuple)


@st.composite
def filters(draw) -> EventFilter:
    start = draw(st.one_of(st.none(), moments, day_moments))
    end = draw(st.one_of(st.none(), moments, day_moments))
    if start is not None and end is not None:
        assume(end > start)
    return EventFilter(
        users=draw(values),
        families=draw(values),
        actions=draw(values),
        resource_types=draw(values),
        resources=draw(values),
        ips=tuple(draw(st.lists(ips, max_size=2))),
        sessions=draw(values),
        weekdays=tuple(draw(st.lists(st.sampled_from(WEEKDAYS), max_size=2))),
        hours=tuple(str(h) for h in draw(st.lists(st.integers(0, 23), max_size=2))),
        start=start,
        end=end,
        texts=draw(values),
        time_zone=draw(st.sampled_from([None, "UTC", "Europe/Berlin", "Asia/Kolkata"])),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filters())
def test_parse_reads_back_what_to_query_wrote(event_filter):
    assert EventFilter.parse(event_filter.to_query()) == event_filter


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_fails_with_a_position_inside_the_query(text):
    try:
        parsed = EventFilter.parse(text)
    except QuerySyntaxError as exc:
        assert exc.position is not None and 0 <= exc.position <= len(text)
        assert str(exc).startswith("query error at column ")
        assert "\n" not in str(exc)
    else:
        # Whatever parses round-trips from its canonical form.
        assert EventFilter.parse(parsed.to_query()) == parsed


def test_github_style_query_reads_as_expected():
    f = EventFilter.parse(
        "user:john@company.com action:export resource:payment-logs created:2024-10-01..2024-12-31"
    )
    assert f.users == ("john@company.com",)
    assert f.actions == ("export",) and f.resources == ("payment-logs",)
    assert f.start == datetime(2024, 10, 1, tzinfo=UTC)
    assert f.end == datetime(2025, 1, 1, tzinfo=UTC)  # the end date is inclusive
    assert f.to_query() == (
        "user:john@company.com action:export resource:payment-logs created:2024-10-01..2024-12-31"
    )
    assert f.describe() == (
        'events where user (id or email) is "john@company.com"; and action is "export"; and '
        'resource is "payment-logs"; and time from 2024-10-01 00:00:00 UTC (inclusive) to '
        "2025-01-01 00:00:00 UTC (exclusive)"
    )


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        (">=2024-10-01", datetime(2024, 10, 1, tzinfo=UTC), None),
        (">2024-10-01", datetime(2024, 10, 2, tzinfo=UTC), None),
        ("<2024-10-01", None, datetime(2024, 10, 1, tzinfo=UTC)),
        ("<=2024-10-01", None, datetime(2024, 10, 2, tzinfo=UTC)),
        ("2024-10-01", datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 10, 2, tzinfo=UTC)),
        ("2024-10-01..*", datetime(2024, 10, 1, tzinfo=UTC), None),
        (
            "2024-10-01T10:00+02:00..2024-10-01T12:00Z",
            datetime(2024, 10, 1, 8, tzinfo=UTC),
            datetime(2024, 10, 1, 12, 0, 0, 1, tzinfo=UTC),
        ),
    ],
)
def test_created_forms(query, start, end):
    f = EventFilter.parse(f"created:{query}")
    assert (f.start, f.end) == (start, end)


def test_repeated_qualifiers_or_and_quoted_values_keep_spaces_and_quotes():
    f = EventFilter.parse(
        'user:a user:b "level:error AND x" family:login ip:10.1.2.3/8 "say \\"hi\\""'
    )
    assert f.users == ("a", "b") and f.families == ("login",)
    assert f.texts == ("level:error AND x", 'say "hi"')
    assert f.ips == ("10.0.0.0/8",)


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("user:a levle:error", 7, "unknown qualifier 'levle'"),
        ("user:", 5, "user: needs a value"),
        ('action:export "never closed', 14, "this quote is never closed"),
        ("created:2024-13-01", 8, "created: needs a date"),
        ("created:2024-12-31..2024-10-01", 8, "ends before it starts"),
        ("created:>=2024-01-01 created:<2025-01-01", 21, "created: may appear only once"),
        ("ip:10.0.0.300", 3, "ip: needs an address or CIDR"),
        ("user:a\x00b", 6, "control character U+0000"),
        ('user:"a"b', 8, "a closing quote must end the term"),
        ('"bad \\n escape"', 5, "a backslash must be"),
        ("created:9999-12-31", 8, "created: '9999-12-31' is out of range"),
        ("user:a created:0001-01-01T00:00+05:00", 15, "is out of range: times must fall"),
        ("created:>9999-12-31T23:59:59.999999Z", 8, "is out of range"),
        ("created:2024-01-01..9999-12-31", 8, "is out of range"),
        ("created:<0001-01-01", 8, "is out of range"),
    ],
)
def test_errors_point_at_the_bad_part(query, position, message):
    with pytest.raises(QuerySyntaxError) as info:
        EventFilter.parse(query)
    assert info.value.position == position
    assert message in str(info.value)
    caret_line = info.value.caret().splitlines()[1]
    assert caret_line.index("^") == position


def test_huge_query_is_refused_at_the_limit():
    with pytest.raises(QuerySyntaxError, match="at most 4,000") as info:
        EventFilter.parse("a" * (MAX_QUERY_LENGTH + 1))
    assert info.value.position == MAX_QUERY_LENGTH


def test_filters_built_from_widgets_are_checked_too():
    with pytest.raises(QuerySyntaxError, match="control character"):
        EventFilter(texts=("a\x00",))
    with pytest.raises(QuerySyntaxError, match="ip: needs"):
        EventFilter(ips=("not-an-ip",))
    with pytest.raises(QuerySyntaxError, match="created: start is out of range"):
        EventFilter(start=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
    with pytest.raises(QuerySyntaxError, match="created: end is out of range"):
        EventFilter(end=datetime(1, 1, 1, tzinfo=UTC))


# ---- SQL over real rows ---------------------------------------------------------------------


def _ids(db, event_filter, org="org_a", *, trigram=False):
    with db.org_session(org) as s:
        return _ids_in(s, event_filter, trigram=trigram)


def _ids_in(session, event_filter, *, trigram=False):
    """`_ids` in an open session of the reading organisation (one for many filters)."""
    where, params = event_filter.to_sql(trigram=trigram)
    sql = f"SELECT id FROM org_audit_events WHERE {where} ORDER BY id"
    return [r[0] for r in session.execute(sql, params).rows]


def _analyzed(db, rows):
    """Insert `rows` and refresh the planner's statistics, so plans reflect them."""
    with db.writer() as s:
        insert_events(s, rows)
    with db.admin() as s:
        s.execute("ANALYZE audit_events")


def _plan(db, event_filter, org="org_a", *, trigram=False):
    """EXPLAIN's lines for reading the filtered events as a reader does (through the view)."""
    where, params = event_filter.to_sql(trigram=trigram)
    with db.org_session(org) as s:
        plan = s.execute(f"EXPLAIN SELECT id FROM org_audit_events WHERE {where}", params).rows
    return [row[0] for row in plan]


@pytest.fixture
def known_events(db):
    t0 = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)
    rows = [
        event_row(
            id="e1",
            user_id="u1",
            user_email="John@Company.com",
            event_action="export",
            resource_id="payment-logs",
            event_time=t0,
            ip_address="10.1.2.3",
            details={"query": "50% off_x"},
        ),
        event_row(
            id="e2",
            user_id="u2",
            user_email="sarah@company.com",
            event_type="config_change",
            event_action="update_alert",
            event_time=t0 + timedelta(hours=2),
            ip_address="192.168.1.5",
            details={"note": 'say "hi" \\ o\'reilly'},
        ),
        event_row(
            id="e3",
            user_id="u1",
            user_email="john@company.com",
            event_action="search",
            event_time=t0 - timedelta(days=100),
            ip_address="2001:db8::1",
            details={"query": "5000 offix", "city": "Zürich"},
            session_id="s9",
        ),
        event_row(
            id="x1",
            organization_id="org_b",
            user_id="u1",
            event_action="export",
            resource_id="payment-logs",
            event_time=t0,
        ),
    ]
    with db.writer() as s:
        insert_events(s, rows)
    return db


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["e1", "e2", "e3"]),
        ("user:john@company.com", ["e1", "e3"]),
        ("user:u2 user:u1 action:export", ["e1"]),
        ("user:u2 user:JOHN@company.com", ["e1", "e2", "e3"]),  # emails match in any case
        ("resource:payment-logs created:2024-10-01..2024-12-31", ["e1"]),
        ("created:>=2025-01-01", ["e2"]),
        ("ip:10.0.0.0/8", ["e1"]),
        ("ip:192.168.1.5", ["e2"]),
        ("ip:2001:db8::/32", ["e3"]),
        ("family:config_change", ["e2"]),
        ("session:s9", ["e3"]),
        ('"50%"', ["e1"]),  # % is literal, not a wildcard
        ("off_x", ["e1"]),  # _ is literal too
        ('"say \\"hi\\""', ["e2"]),
        ("o'reilly", ["e2"]),
        ("zürich", ["e3"]),
        ("\\", ["e2"]),
        ("'; DROP TABLE audit_events; --", []),
        # A leading - leaves a term out (GitHub's audit-log search).
        ("-action:export", ["e2", "e3"]),
        ("user:u1 -action:search", ["e1"]),
        ("-user:JOHN@company.com", ["e2"]),
        ("-ip:10.0.0.0/8", ["e2", "e3"]),
        ("-session:s9", ["e1", "e2"]),
        ("-zürich", ["e1", "e2"]),
        ('-"say \\"hi\\""', ["e1", "e3"]),
        ("-family:log_access -family:config_change", []),
        ("-resource:payment-logs created:2024-10-01..2024-12-31", []),
        ("- --", []),  # lone dashes are text
    ],
)
def test_sql_selects_exactly_the_matching_events_of_the_organisation(known_events, query, expected):
    assert _ids(known_events, EventFilter.parse(query)) == expected
    # The trigram operator of the search migration (the test server's login is a superuser).
    assert known_events.capabilities.trigram_search
    assert _ids(known_events, EventFilter.parse(query), trigram=True) == expected


def test_user_without_an_at_sign_is_an_id_lookup_only():
    # The (organisation, user, time) index serves `user:ID` only without an OR on the email.
    where, params = EventFilter.parse("user:u1 user:u2").to_sql()
    assert where == "NOT own_use AND user_id = ANY(:f_users)" and "f_users_emails" not in params
    where, params = EventFilter.parse("user:u1 user:Ann@Company.com").to_sql()
    assert "auditlens_fold_email(user_email) = ANY(:f_users_emails)" in where
    assert params["f_users_emails"] == ["ann@company.com"] and params["f_users"] == [
        "u1",
        "Ann@Company.com",
    ]


def test_user_email_is_matched_through_its_index(known_events):
    # Behind the reader's security-barrier view only a LEAKPROOF function can drive an index
    # scan: the email's must (the search migration), or `user:EMAIL` scans the organisation.
    t0 = datetime(2025, 1, 10, tzinfo=UTC)
    crowd = [
        event_row(
            id=f"c{i}",
            user_id=f"u_crowd{i % 300}",
            user_email=f"crowd{i % 300}@company.com",
            event_time=t0 + timedelta(minutes=i),
        )
        for i in range(6_000)
    ]
    _analyzed(known_events, crowd)
    plan = _plan(known_events, EventFilter.parse("user:john@company.com"))
    text = "\n".join(plan)
    conditions = [line for line in plan if "Index Cond" in line]
    assert any("auditlens_fold_email(user_email)" in c for c in conditions), text
    assert _ids(known_events, EventFilter.parse("user:john@company.com")) == ["e1", "e3"]


def test_sql_carries_no_value_in_its_text():
    f = EventFilter.parse("user:'x' \"Robert'); DROP TABLE audit_events;--\" ip:10.0.0.0/8")
    where, params = f.to_sql()
    assert "DROP" not in where and "'x'" not in where and "10.0.0.0" not in where
    assert any("DROP" in str(v) for v in params.values())


def test_ip_networks_select_exactly_their_addresses(db):
    """The index-range form of `ip:` (first/last address, then <<=) against Python's own
    membership test, on random IPv4/IPv6 addresses and networks, edges included."""
    import ipaddress
    import random

    rng = random.Random(7)
    addresses = [
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(80)
    ]
    addresses += ["9.255.255.255", "10.0.0.0", "10.255.255.255", "11.0.0.0", "0.0.0.0"]  # noqa: S104
    addresses += [f"2001:db8:{rng.randrange(4):x}::{rng.randrange(65536):x}" for _ in range(40)]
    addresses += ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::", "::1"]
    rows = [
        event_row(id=f"ip{i}", organization_id="org_a", ip_address=a)
        for i, a in enumerate(addresses)
    ]
    rows.append(event_row(id="none", organization_id="org_a", ip_address=None))
    with db.writer() as s:
        insert_events(s, rows)
    networks = ["10.0.0.0/8", "10.128.0.0/9", "10.7.0.0/16", "0.0.0.0/0", "11.0.0.0/32"]
    networks += ["2001:db8::/32", "2001:db8:1::/48", "::/0", "::1"]
    networks += [f"10.{rng.randrange(256)}.0.0/{rng.randrange(8, 25)}" for _ in range(10)]
    for net in networks:
        for pair in ([net], [net, "2001:db8:2::/48"]):
            flt = EventFilter(ips=tuple(pair))
            nets = [ipaddress.ip_network(n, strict=False) for n in pair]
            want = sorted(
                f"ip{i}"
                for i, a in enumerate(addresses)
                if any(
                    ipaddress.ip_address(a) in n
                    for n in nets
                    if n.version == ipaddress.ip_address(a).version
                )
            )
            assert _ids(db, flt) == want, pair


def test_action_and_ip_filters_can_use_their_indexes_behind_the_view(db):
    """Behind the readers' security-barrier view only LEAKPROOF comparisons reach an index:
    on events where the filter is selective, the plan must use the action and IP indexes."""
    t0 = datetime(2025, 1, 15, tzinfo=UTC)
    rows = [
        event_row(
            organization_id="org_a",
            event_action="export" if i % 1000 == 0 else "view",
            ip_address=f"10.1.0.{i % 200}" if i % 1000 == 1 else f"192.168.{i % 250}.{i % 200}",
            event_time=t0 + timedelta(seconds=i),
        )
        for i in range(4000)
    ]
    _analyzed(db, rows)
    for query, column in (("action:export", "event_action"), ("ip:10.1.0.0/16", "ip_address")):
        plan = _plan(db, EventFilter.parse(query))
        conditions = [line for line in plan if "Index Cond" in line]
        assert any(f"({column} " in line for line in conditions), "\n".join(plan)


# ---- text terms through the trigram index (the search migration) ----------------------------

_HOSTILE_DETAILS = [
    {"query": "email:*@company.com", "results_count": 3},
    {"query": "50% off_x AND 5_0 %%"},
    {"path": "C:\\temp\\x", "note": "back\\slash \\% and \\_"},
    {"note": "say \"hi\" \\ o'reilly ''; DROP TABLE audit_events; --"},
    {"city": "Zürich", "name": "ÅSA İstanbul straße ΣΊΣΥΦΟΣ", "emoji": "🔒 lock"},
    {"log_id": "log_fe742232f0", "level": "ERROR"},
    {"k": "a", "x": "_", "y": "%", "z": "\\"},
    {},
    {"nested": {"deep": ["Level:Error", 1, None, True]}},
]


@pytest.fixture
def hostile_events(db):
    t0 = datetime(2025, 1, 10, tzinfo=UTC)
    rows = [
        event_row(id=f"h{i}", details=details, event_time=t0 + timedelta(minutes=i))
        for i, details in enumerate(_HOSTILE_DETAILS)
    ]
    rows.append(event_row(id="other", organization_id="org_b", details={"query": "level:error"}))
    with db.writer() as s:
        insert_events(s, rows)
    with db.admin() as s:
        s.execute("ANALYZE audit_events")
    return db


def _terms() -> list[str]:
    """Substrings of 1 to 6 characters of the events' details (1 and 2 characters have no
    trigram), half of them upper-cased, 800 drawn at random, plus hostile ones."""
    texts = [json.dumps(d, ensure_ascii=False) for d in _HOSTILE_DETAILS]
    terms = {"\\", "%", "_", "%%", "\\%", "'", '"', "''", "ß", "SS", "σ", "zz\\", "%_%"}
    hostile = set(terms)
    for text in texts:
        value = text.replace('\\"', '"').replace("\\\\", "\\")  # the JSON escapes undone
        for size in range(1, 7):
            terms.update(value[i : i + size] for i in range(0, len(value) - size + 1))
    usable = sorted(t for t in terms if t.strip() and not any(_is_control_char(c) for c in t))
    rng = random.Random(57)
    drawn = rng.sample(usable, 800)
    return sorted(hostile | {t.upper() if rng.random() < 0.5 else t for t in drawn})


def _is_control_char(c: str) -> bool:
    return ord(c) < 0x20 or ord(c) == 0x7F


# The trigram index and its copy on every partition (plain PostgreSQL) or chunk (TimescaleDB),
# by the names the server gave them: plans name the copies they scan.
_TRIGRAM_INDEXES = """
WITH RECURSIVE tree(rel) AS (
  SELECT 'audit_events'::regclass::oid
  UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.rel
)
SELECT c.relname FROM pg_index x JOIN tree ON x.indrelid = tree.rel
  JOIN pg_class c ON c.oid = x.indexrelid
 WHERE pg_get_indexdef(x.indexrelid) LIKE '%auditlens_trgm_ops%'
"""


def _trigram_index_names(session) -> set[str]:
    return {row[0] for row in session.execute(_TRIGRAM_INDEXES).rows}


def _scans_trigram_index(db, plan, names=None) -> bool:
    if names is None:
        with db.admin() as s:
            names = _trigram_index_names(s)
    assert "audit_events_details_trgm" in names, names
    scans = [
        line.split("Bitmap Index Scan on ")[1].split()[0]
        for line in plan
        if "Bitmap Index Scan on " in line
    ]
    return bool(scans) and set(scans) <= names


def _all_ids_in(session, term, *, operator=False, index_names=None):
    """Every organisation's events whose details hold `term`, read in `session` (the login
    role's) from the table; with `operator`, by the search migration's operator through the
    trigram index (the only index the condition can use; the session has enable_seqscan off),
    whatever the term's length. The plan must scan one of `index_names`."""
    params = EventFilter(texts=(term,)).to_sql()[1]
    condition = "details::text ILIKE :f_text0"
    if operator:
        condition = "auditlens_details_text(details) ~~~* :f_text0"
    sql = f"SELECT id FROM audit_events WHERE {condition} ORDER BY id"
    if operator:
        plan = [r[0] for r in session.execute(f"EXPLAIN {sql}", params).rows]
        assert _scans_trigram_index(None, plan, index_names), plan
    return [r[0] for r in session.execute(sql, params).rows]


def test_trigram_operator_matches_exactly_what_ilike_matches(hostile_events):
    # Through the reader's view as planned, and through the index: its trigrams must never
    # drop a match (terms of 1 or 2 characters have none: the index returns every row).
    terms = _terms()
    assert len(terms) > 700
    differ, found = [], 0
    # One transaction per way of reading, not per term: the terms are what vary.
    with (
        hostile_events.org_session("org_a") as reader,
        hostile_events.admin() as table,
        hostile_events.admin() as index,
    ):
        index.execute("SET LOCAL enable_seqscan = off")
        names = _trigram_index_names(index)
        for term in terms:
            flt = EventFilter(texts=(term,))
            plain = _ids_in(reader, flt)
            found += bool(plain)
            if plain != _ids_in(reader, flt, trigram=True):
                differ.append(("view", term))
            through_index = _all_ids_in(index, term, operator=True, index_names=names)
            if _all_ids_in(table, term) != through_index:
                differ.append(("index", term))
    assert differ == []
    # Not vacuous: most terms find events, some find none, and wildcards are literal.
    assert len(terms) // 2 < found < len(terms)
    assert _ids(hostile_events, EventFilter(texts=("%",)), trigram=True) == ["h1", "h2", "h6"]
    assert _ids(hostile_events, EventFilter(texts=("\\",)), trigram=True) == ["h2", "h3", "h6"]
    assert _ids(hostile_events, EventFilter(texts=("zürich",)), trigram=True) == ["h4"]
    assert _ids(hostile_events, EventFilter(texts=("LEVEL:ERROR",)), trigram=True) == ["h8"]
    assert _ids(hostile_events, EventFilter(texts=("level:error",)), "org_b", trigram=True) == [
        "other"
    ]


def test_trigram_operator_refuses_a_dangling_escape_whatever_the_value(db):
    # ILIKE raises on a pattern ending in a lone backslash only once the value matched the
    # rest, which would tell a caller something about rows it may not see; the LEAKPROOF
    # operator raises before looking at the value.
    with db.admin() as s:
        assert s.scalar("SELECT 'abc' ILIKE 'zz\\'") is False
        assert s.scalar("SELECT 'a\\b' ~~~* 'A\\\\B'") is True
        assert s.scalar("SELECT 'x' ~~~* 'x\\\\'") is False
    for value in ("'abc'", "'zz'", "NULL::text"):
        with (
            pytest.raises(Exception, match="must not end with escape character"),
            db.admin() as s,
        ):
            s.scalar(f"SELECT {value} ~~~* 'zz\\'")
    with db.admin() as s:
        leakproof = s.execute(
            "SELECT proname, proleakproof FROM pg_proc WHERE proname IN"
            " ('auditlens_details_text', 'auditlens_text_ilike') ORDER BY 1"
        ).rows
    assert [tuple(r) for r in leakproof] == [
        ("auditlens_details_text", True),
        ("auditlens_text_ilike", True),
    ]


def test_text_term_is_matched_through_the_trigram_index(hostile_events):
    # Behind the reader's view only LEAKPROOF functions drive index scans: with ILIKE on
    # details::text every event of the organisation is read (past 30 s at 10M events).
    t0 = datetime(2025, 1, 12, tzinfo=UTC)
    crowd = [
        event_row(
            id=f"c{i}",
            details={"query": f"request_id:{i:08x}", "results_count": i % 97},
            event_time=t0 + timedelta(minutes=i),
        )
        for i in range(6_000)
    ]
    _analyzed(hostile_events, crowd)
    flt = EventFilter.parse("log_fe742232")
    plan = _plan(hostile_events, flt, trigram=hostile_events.capabilities.trigram_search)
    text = "\n".join(plan)
    assert _scans_trigram_index(hostile_events, plan), text
    assert "auditlens_details_text(details) ~~~*" in text, text
    assert _ids(hostile_events, flt, trigram=True) == ["h5"]


def test_terms_without_a_trigram_keep_plain_ilike():
    # pg_trgm finds nothing to look up in them: the index would return every row to check.
    for term in ("ab", "a_b%c", "7 8 9", "é\\ü"):
        where, _ = EventFilter(texts=(term,)).to_sql(trigram=True)
        assert where == "NOT own_use AND details::text ILIKE :f_text0 ESCAPE '\\'", term
    for term in ("abc", "x:123", "zürich"):
        where, _ = EventFilter(texts=(term,)).to_sql(trigram=True)
        assert where == "NOT own_use AND auditlens_details_text(details) ~~~* :f_text0", term


def test_weekday_and_hour_read_in_the_zone_select_exactly_their_events(db):
    # Mon 2025-01-13 13:10 UTC is 14:10 in Berlin and 18:40 in Kolkata (whose 18:00 cell
    # holds the UTC hour 13:00-14:00 shifted by 5:30, the heatmaps' rule).
    times = {
        "mon13": datetime(2025, 1, 13, 13, 10, tzinfo=UTC),
        "mon14": datetime(2025, 1, 13, 14, 5, tzinfo=UTC),
        "tue13": datetime(2025, 1, 14, 13, 50, tzinfo=UTC),
        "sun23": datetime(2025, 1, 19, 23, 30, tzinfo=UTC),  # Monday 00:30 in Berlin
    }
    rows = [event_row(id=name, event_time=moment) for name, moment in times.items()]
    rows.append(event_row(organization_id="org_b", id="b_mon13", event_time=times["mon13"]))
    with db.writer() as w:
        insert_events(w, rows)
    cases = {
        "weekday:mon hour:13": ["mon13"],
        "weekday:mon": ["mon13", "mon14"],
        "hour:13": ["mon13", "tue13"],
        "weekday:mon hour:14 tz:Europe/Berlin": ["mon13"],
        "weekday:monday hour:0 tz:Europe/Berlin": ["sun23"],
        "weekday:1 weekday:tue hour:18 tz:Asia/Kolkata": ["mon13", "tue13"],
        "weekday:sun": ["sun23"],
    }
    for query, expected in cases.items():
        parsed = EventFilter.parse(query)
        assert _ids(db, parsed) == sorted(expected), query
        assert EventFilter.parse(parsed.to_query()) == parsed
    assert "hour of day is" in EventFilter.parse("hour:9 tz:Europe/Berlin").describe()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("weekday:funday", "weekday: needs mon..sun"),
        ("weekday:8", "weekday: needs mon..sun"),
        ("hour:24", "hour: needs an hour of day 0..23"),
        ("hour:-1", "hour: needs an hour of day 0..23"),
        ("hour:\u0661", "hour: needs an hour of day 0..23"),
        ("hour:9 tz:Mars/Olympus", "tz: unknown IANA time zone"),
        ('hour:9 tz:"Europe/Berlin\'; DROP TABLE audit_events; --"', "tz: unknown IANA"),
        ("tz:UTC tz:UTC", "tz: may appear only once"),
        ("-weekday:mon", "weekday: cannot be negated"),
        ("hour:9 -hour:10", "hour: cannot be negated"),
        ("-tz:UTC", "tz: cannot be negated"),
    ],
)
def test_weekday_hour_and_zone_refuse_bad_values_by_name(query, message):
    with pytest.raises(QuerySyntaxError, match=message):
        EventFilter.parse(query)
