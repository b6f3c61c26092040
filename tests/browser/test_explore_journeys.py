"""Browser journeys on Explore and Config changes, asserting the answers: an analyst narrows
by time and text and the window holds, with the count equal to the table's rows; the alert
switched off 40 days ago and still off shows under the default 30-day period."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.browser.script_state import wait_idle
from tests.browser.test_investigation import _expect_metric, _sign_in
from tests.factories import event_row
from usecases.accounts import add_user


def _seed_explore(db, now):
    rows = [
        event_row(
            id=f"c{days}",
            event_type="config_change",
            event_action="update_alert",
            event_time=now - timedelta(days=days),
            details={"note": f"customer alert {days}"},
        )
        for days in (1, 2, 20, 40, 60)
    ]
    rows += [
        event_row(
            id=f"o{days}",
            event_type="config_change",
            event_action="update_alert",
            event_time=now - timedelta(days=days),
            details={"note": "other"},
        )
        for days in (3, 4)
    ]
    with db.writer() as session:
        insert_events(session, rows)


@pytest.mark.browser
def test_an_analyst_narrows_by_time_and_text_and_the_window_holds(dashboard, page):
    _seed_explore(dashboard.db, datetime.now(UTC))
    added = add_user(dashboard.db, email="ana@company.com", org="org_a", role="analyst", actor="t")
    _sign_in(page, f"{dashboard.url}/explore", "ana@company.com", str(added.password), "Explore")
    query_box = page.get_by_role("textbox", name="Query")
    query_box.fill("family:config_change")
    query_box.press("Enter")
    _expect_metric(page, "Matching events", "7")
    # Every seeded event is a config change, so the count above is also the one before Enter:
    # wait for the run Enter started (it puts the query into the URL) to finish, or its
    # elements replace the Time dropdown opened below.
    expect(page).to_have_url(re.compile(r"[?&]q=family%3Aconfig_change(&|$)"))
    wait_idle(page)
    page.locator("summary", has_text="Filters").click()
    # A click on the Time box while the expander still animates open can open and close it.
    page.locator("details", has=page.locator("summary", has_text="Filters")).evaluate(
        "d => Promise.all(d.getAnimations({subtree: true}).map(a => a.finished))"
    )
    page.get_by_role("combobox", name=re.compile("^Time")).click()
    expect(page.get_by_role("listbox")).to_be_visible()
    page.get_by_role("option", name="Last 30 days").click()
    _expect_metric(page, "Matching events", "5")
    expect(query_box).to_have_value(re.compile(r"created:>="))
    window = EventFilter.parse(query_box.input_value()).start

    text_box = page.get_by_role("textbox", name="Text within details")
    text_box.fill("customer")
    text_box.press("Enter")
    expect(query_box).to_have_value(re.compile(r"customer$"))
    _expect_metric(page, "Matching events", "3")
    narrowed = EventFilter.parse(query_box.input_value())
    assert (narrowed.start, narrowed.end, narrowed.texts) == (window, None, ("customer",))
    time_widget = page.get_by_role("combobox", name="Time")
    expect(time_widget).to_match_aria_snapshot('- combobox "Time": Last 30 days')
    # The table shows exactly the counted events.
    expect(page.get_by_text(re.compile(r"^Events 1–3, newest first"))).to_be_visible()


@pytest.mark.browser
def test_config_changes_shows_an_alert_disabled_40_days_ago_and_still_off(dashboard, page):
    now = datetime.now(UTC)
    rows = [
        event_row(
            event_type="config_change",
            event_action="disable_alert",
            event_time=now - timedelta(days=40),
            user_email="sarah@company.com",
            resource_type="alert_rule",
            resource_id="payments-spike",
            details={"reason": "Testing"},
        ),
        event_row(
            event_type="config_change",
            event_action="update_alert",
            event_time=now - timedelta(days=2),
            resource_type="alert_rule",
            resource_id="latency",
            details={"changes": {"threshold": {"old": 100, "new": 200}}},
        ),
    ]
    with dashboard.db.writer() as session:
        insert_events(session, rows)
    added = add_user(dashboard.db, email="aud@company.com", org="org_a", role="auditor", actor="t")
    _sign_in(
        page,
        f"{dashboard.url}/config-changes",
        "aud@company.com",
        str(added.password),
        "Config changes",
    )
    page.get_by_role("heading", name="Disabled and never re-enabled").wait_for()
    period = page.get_by_role("combobox", name="Period")
    expect(period).to_match_aria_snapshot('- combobox "Period": Last 30 days')
    expect(
        page.get_by_text(
            "1 change switched something off that is still off now (0 of them in this period)."
        )
    ).to_be_visible()
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_contain_text("alert_rule:payments-spike")
