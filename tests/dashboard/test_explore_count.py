"""Explore's count over a filter of families, actions and time comes from the read model
(rollups plus the raw events past their watermark) and is exact: it equals a direct count of
raw events with late events, events past the watermark, AuditLens's own use, users without an
id or an email, and a second organisation's events around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import explore_queries
from sql.event_filter import EventFilter
from sql.event_store import insert_events, record_event
from sql.gateway import Database
from sql.read_model import ReadModel
from sql.vocabulary import SEARCH
from tests.dashboard.conftest import page_test
from tests.factories import event_row

T0 = datetime(2025, 3, 3, 9, 17, 23, tzinfo=UTC)
SHAPES = [
    ("log_access", "search", "u_ann", "ann@company.com"),
    ("log_access", "export", None, "mail-only@company.com"),
    ("config_change", "disable_alert", "u_bob", None),
    ("login", "login", None, None),
]


def _rows(org: str, start: datetime, n: int) -> list[tuple]:
    rows = []
    for i in range(n):
        family, action, user, email = SHAPES[i % len(SHAPES)]
        rows.append(
            event_row(
                organization_id=org,
                event_time=start + timedelta(hours=7 * i, minutes=i, microseconds=i),
                event_type=family,
                event_action=action,
                user_id=user,
                user_email=email,
            )
        )
    return rows


def _own_use(db: Database, org: str, when: datetime) -> None:
    with db.writer() as session:
        record_event(
            session, organization_id=org, action=SEARCH, details={"q": "x"}, event_time=when
        )


def _load(db: Database) -> None:
    """Rolled-up events of both organisations and own use, then (past the watermark) late
    events, events far in the past and the future, and more own use."""
    with db.writer() as session:
        insert_events(session, _rows("org_a", T0, 40) + _rows("org_b", T0, 40))
    _own_use(db, "org_a", T0 + timedelta(hours=1))
    ReadModel(db).refresh()
    late = _rows("org_a", T0 - timedelta(days=3, minutes=5), 9)
    edges = _rows("org_a", datetime(1999, 12, 31, 23, 59, tzinfo=UTC), 2)
    edges += _rows("org_a", datetime(2099, 1, 1, tzinfo=UTC), 1)
    with db.writer() as session:
        insert_events(session, late + edges + _rows("org_b", T0, 5))
    _own_use(db, "org_a", T0 + timedelta(hours=2))


def _direct(db: Database, org: str, event_filter: EventFilter) -> int:
    """The filter's own SQL, counted without a cap over the organisation's raw events."""
    where, params = event_filter.sql_for(db)
    with db.org_session(org) as session:
        return int(session.scalar(f"SELECT count(*) FROM org_audit_events WHERE {where}", params))


FILTERS = [
    "",
    "family:log_access",
    "family:log_access family:login",
    "action:search action:disable_alert",
    "family:log_access action:export",
    "action:no_such_action",
    "created:2025-03-03..2025-03-05",
    "created:>=2025-03-03T10:30:00Z family:log_access",
    "created:<2025-03-04T01:02:03Z",
    "created:2025-02-28T08:59:59Z..2025-03-10T00:00:01Z action:login",
]


def test_counts_of_families_actions_and_time_equal_a_direct_count(dashboard_db):
    _load(dashboard_db)
    for query in FILTERS:
        event_filter = EventFilter.parse(query)
        assert explore_queries._counted_by_read_model(event_filter), query
        snapshot = explore_queries.count_and_page(dashboard_db, "org_a", event_filter)
        want = _direct(dashboard_db, "org_a", event_filter)
        assert (snapshot.count, snapshot.capped) == (want, False), query
        assert explore_queries.count_events(dashboard_db, "org_a", event_filter) == (want, False)
    # The whole stream: every shape, late and edge events, never own use or org_b's.
    assert explore_queries.count_and_page(dashboard_db, "org_a", EventFilter()).count == 52
    assert explore_queries.count_and_page(dashboard_db, "org_b", EventFilter()).count == 45


def test_other_filters_still_count_raw_events_up_to_the_cap(dashboard_db, monkeypatch):
    _load(dashboard_db)
    monkeypatch.setattr(explore_queries, "COUNT_CAP", 5)
    for query in ("stream:auditlens", "user:u_ann", "-action:search", "family:login hour:9"):
        event_filter = EventFilter.parse(query)
        assert not explore_queries._counted_by_read_model(event_filter), query
        want = _direct(dashboard_db, "org_a", event_filter)
        snapshot = explore_queries.count_and_page(dashboard_db, "org_a", event_filter)
        assert (snapshot.count, snapshot.capped) == (min(want, 5), want > 5), query


def test_the_page_shows_an_exact_count_and_holds_back_a_broad_raw_timeline(
    dashboard_db, sign_in, monkeypatch
):
    """Counted exactly over the cap: a family's timeline (the read model draws it) is drawn
    at once; an action's (raw events) waits for a click, as a capped count's does."""
    _load(dashboard_db)
    monkeypatch.setattr(explore_queries, "COUNT_CAP", 10)
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="family:log_access").run()
    assert not at.exception
    assert at.metric[0].value == str(
        _direct(dashboard_db, "org_a", EventFilter.parse("family:log_access"))
    )
    assert len(at.get("plotly_chart")) == 1
    at = page_test("explore.py", token, q="action:search action:export").run()
    assert not at.exception
    assert int(at.metric[0].value) > 10
    assert not at.get("plotly_chart")
    assert any("More than 10 events match" in i.value for i in at.info)
