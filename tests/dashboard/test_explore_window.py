"""Explore's time window holds: a chosen period stays what it was while the user types text
or picks other filters, until the user picks another period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row


def _seed(db, now):
    # Config changes 2 days, 20 days and 40 days ago, each mentioning a customer.
    rows = [
        event_row(
            event_type="config_change",
            event_action="update_alert",
            event_time=now - timedelta(days=days),
            details={"note": f"customer alert {days}"},
        )
        for days in (2, 20, 40)
    ]
    with db.writer() as session:
        insert_events(session, rows)


def test_last_30_days_holds_while_typing_text(dashboard_db, sign_in):
    _seed(dashboard_db, datetime.now(UTC))
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="family:config_change").run()
    at.selectbox(key="explore_preset").set_value("Last 30 days").run()
    assert not at.exception
    chosen = EventFilter.parse(at.text_input(key="explore_query").value)
    assert chosen.start is not None and chosen.end is None
    assert at.metric[0].value == "2"

    at.text_input(key="explore_text").input("customer").run()
    assert not at.exception
    assert at.selectbox(key="explore_preset").value == "Last 30 days"
    narrowed = EventFilter.parse(at.text_input(key="explore_query").value)
    assert (narrowed.start, narrowed.end) == (chosen.start, None)
    assert narrowed.texts == ("customer",)
    assert at.metric[0].value == "2"

    # Another widget change still keeps the window.
    at.multiselect(key="explore_actions").select("update_alert").run()
    again = EventFilter.parse(at.text_input(key="explore_query").value)
    assert (again.start, again.end) == (chosen.start, None)
    assert at.metric[0].value == "2"


def test_an_open_window_from_the_query_box_stays_open(dashboard_db, sign_in):
    _seed(dashboard_db, datetime.now(UTC))
    start = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q=f"family:config_change created:>={start}").run()
    assert at.selectbox(key="explore_preset").value == "Custom dates"
    first, last = at.session_state["explore_dates"]
    assert first.isoformat() == start and last == datetime.now(UTC).date()
    at.text_input(key="explore_text").input("customer").run()
    assert not at.exception
    narrowed = EventFilter.parse(at.text_input(key="explore_query").value)
    assert narrowed.start is not None and narrowed.start.date().isoformat() == start
    assert narrowed.end is None
    assert at.metric[0].value == "2"
