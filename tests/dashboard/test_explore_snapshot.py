"""Explore's count and table come from one snapshot: what is written between them (the
viewer's own search above all) cannot make them disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import explore_queries
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _seed(db, n=3):
    rows = [event_row(event_time=T0 + timedelta(minutes=i)) for i in range(n)]
    with db.writer() as session:
        insert_events(session, rows)


def test_count_and_table_agree_on_the_first_view(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="family:log_access").run()
    assert not at.exception
    count = int(at.metric[0].value)
    assert len(at.dataframe[0].value) == count
    assert any(f"Events 1–{count}," in c.value for c in at.caption)
    # A rerun (the search now recorded) still shows one figure everywhere.
    at.run()
    count = int(at.metric[0].value)
    assert len(at.dataframe[0].value) == count


def test_a_write_between_count_and_page_is_not_seen(dashboard_db, monkeypatch):
    _seed(dashboard_db)
    original = explore_queries._page

    def page_after_a_write(*args, **kwargs):
        with dashboard_db.writer() as session:
            insert_events(session, [event_row(event_time=T0 + timedelta(hours=1))])
        return original(*args, **kwargs)

    monkeypatch.setattr(explore_queries, "_page", page_after_a_write)
    snap = explore_queries.count_and_page(dashboard_db, "org_a", EventFilter())
    assert (snap.count, len(snap.page)) == (3, 3)
    # The write did happen: the next view sees it.
    monkeypatch.setattr(explore_queries, "_page", original)
    assert explore_queries.count_and_page(dashboard_db, "org_a", EventFilter()).count == 4
