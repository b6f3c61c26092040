"""Saved searches and their alerts in a real browser, asserting the answers: a saved search
round-trips through the URL (by id and by name) with the same query and count; an analyst
saves a search, turns it into an alert, reads its dry run, switches it on, and the next
matching event, once the scheduled detection ticks, is a finding on the alert's page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from detection.schedule import DetectionScheduler
from sql.event_store import insert_events
from tests.browser.script_state import wait_idle
from tests.browser.test_investigation import _expect_metric, _sign_in
from tests.factories import event_row
from usecases import saved_searches, search_alerts
from usecases.accounts import add_user

QUERY = "action:export resource:payments"


def _export(user: str, at: datetime) -> tuple:
    return event_row(
        user_id=user,
        user_email=f"{user}@x.com",
        event_type="data_modification",
        event_action="export",
        resource_id="payments",
        event_time=at,
    )


def _seed(db) -> None:
    """ann exports payments six times three days ago, bob once five days ago; other work."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    burst, lone = midnight - timedelta(days=3, hours=-10), midnight - timedelta(days=5, hours=-11)
    rows = [_export("ann", burst + timedelta(minutes=5 * i)) for i in range(6)]
    rows.append(_export("bob", lone))
    rows += [
        event_row(user_id="ann", user_email="ann@x.com", event_time=burst - timedelta(hours=h))
        for h in range(1, 4)
    ]
    # cat, who makes the alert's next match when the test runs, works round the clock: with
    # no history of hers the off-hours export rule judged that match by the organisation's
    # working hours, and fired for an evening or night run (8-19 by default) and for any run
    # on a weekend, its title then leading the finding's. This journey is about the search.
    rows += [
        event_row(user_id="cat", user_email="cat@x.com", event_time=lone + timedelta(hours=h))
        for h in range(-11, 13)
    ]
    with db.writer() as session:
        insert_events(session, rows)
    # Working hours round the clock too (the organisation's hours for users without a profile).
    with db.admin() as session:
        session.execute(
            "INSERT INTO organizations (organization_id, work_start_hour, work_end_hour)"
            " VALUES ('org_a', 0, 24) ON CONFLICT (organization_id)"
            " DO UPDATE SET work_start_hour = 0, work_end_hour = 24"
        )


def _save_the_search(page, name: str) -> int:
    """On Explore with the query applied: save it under `name`; the search's id."""
    wait_idle(page)
    page.locator("summary", has_text="Saved searches").click()
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_role("textbox", name="Description", exact=True).fill(
        "exports of the payments source"
    )
    page.get_by_role("button", name="Save search").click()
    try:
        page.wait_for_url(re.compile(r"[?&]saved=\d+"))
    except PlaywrightTimeoutError:
        # A rare failure not yet explained: say what the page showed instead.
        alerts = page.get_by_test_id("stAlert").all_inner_texts()
        raise AssertionError(f"no saved= in {page.url} after saving; alerts: {alerts}") from None
    return int(re.search(r"[?&]saved=(\d+)", page.url).group(1))


def _explore_query(page, query: str) -> None:
    """On Explore (signed in there): run `query`."""
    # Typed into the box of the finished run: a box typed into while the page's first run
    # still draws is replaced by that run's own, empty, one.
    wait_idle(page)
    box = page.get_by_role("textbox", name="Query")
    box.fill(query)
    box.press("Enter")


@pytest.mark.browser
def test_a_saved_search_round_trips_through_the_url(dashboard, page):
    _seed(dashboard.db)
    added = add_user(dashboard.db, email="lee@x.com", org="org_a", role="analyst", actor="t")
    _sign_in(page, f"{dashboard.url}/explore", "lee@x.com", str(added.password), "Explore")
    _explore_query(page, QUERY)
    _expect_metric(page, "Matching events", "7")
    search_id = _save_the_search(page, "Payment exports")
    (saved,) = saved_searches.list_searches(dashboard.db, "org_a", "lee@x.com")
    assert (saved.search_id, saved.name, saved.query) == (search_id, "Payment exports", QUERY)

    # The link alone, in another tab: the same query and count, named on the page.
    link = page.url
    other = page.context.new_page()
    other.goto(link)
    other.get_by_role("heading", name="Explore").wait_for()
    wait_idle(other)
    _expect_metric(other, "Matching events", "7")
    expect(other.get_by_role("textbox", name="Query")).to_have_value(QUERY)
    expect(other.get_by_text("Saved search Payment exports (yours, private)")).to_be_visible()

    # A link by name (any case) opens it too and becomes the link by id.
    other.goto(f"{dashboard.url}/explore?saved=payment%20EXPORTS&org=org_a")
    other.wait_for_url(re.compile(rf"[?&]saved={search_id}(&|$)"))
    _expect_metric(other, "Matching events", "7")
    expect(other.get_by_role("textbox", name="Query")).to_have_value(QUERY)

    # Narrowing the view: the URL no longer claims to be the saved search.
    box = other.get_by_role("textbox", name="Query")
    box.fill(QUERY + " user:ann")
    box.press("Enter")
    _expect_metric(other, "Matching events", "6")
    other.wait_for_url(lambda url: "saved=" not in url)


@pytest.mark.browser
def test_an_analyst_turns_a_saved_search_into_an_alert_that_finds_the_next_match(dashboard, page):
    _seed(dashboard.db)
    added = add_user(dashboard.db, email="lee@x.com", org="org_a", role="analyst", actor="t")
    _sign_in(page, f"{dashboard.url}/explore", "lee@x.com", str(added.password), "Explore")
    _explore_query(page, QUERY)
    _expect_metric(page, "Matching events", "7")
    _save_the_search(page, "Payment exports")

    # From the saved search to a new alert on it: any match, high.
    wait_idle(page)
    page.get_by_role("button", name="Make an alert from it").click()
    page.get_by_role("heading", name="Alerts").wait_for()
    form_search = page.get_by_role("combobox", name="Saved search")
    expect(form_search).to_match_aria_snapshot(
        '- combobox "Saved search": Payment exports (yours, private)'
    )
    page.get_by_role("button", name="Create alert").click()

    # The dry run: ann's day and bob's day, six and one matching events.
    _expect_metric(page, "Would have fired", "2 times")
    _expect_metric(page, "Users", "2")
    (alert,) = search_alerts.list_alerts(dashboard.db, "org_a")
    assert not alert.enabled and alert.condition == "any" and alert.severity == "high"
    # Streamlit sends the new URL with the run: it may land after the figures.
    expect(page).to_have_url(re.compile(rf"[?&]alert={alert.alert_id}(&|$)"))
    per_user = page.locator('[data-testid="stDataFrame"]').nth(2)
    expect(per_user).to_contain_text("ann@x.com")
    expect(per_user).to_contain_text("bob@x.com")
    expect(page.get_by_text("None yet. Detection evaluates")).to_be_visible()

    # Switched on, by the analyst, as the database says.
    wait_idle(page)
    page.get_by_role("button", name="Switch on").click()
    page.get_by_role("button", name="Switch off").wait_for()
    assert search_alerts.list_alerts(dashboard.db, "org_a")[0].enabled

    # The next matching event, then the scheduled detection's tick (what `auditlens run`
    # does every few minutes): a finding on the alert's page.
    with dashboard.db.writer() as session:
        insert_events(session, [_export("cat", datetime.now(UTC) - timedelta(minutes=1))])
    (tick,) = DetectionScheduler(dashboard.db).run_once()
    assert tick.inserted >= 1
    page.reload()
    page.get_by_role("heading", name="Findings from this alert").wait_for()
    findings = page.locator('[data-testid="stDataFrame"]').last
    expect(findings).to_contain_text("cat@x.com")
    expect(findings).to_contain_text("Saved search: Payment exports")
    expect(page.get_by_text("1 finding, newest activity first")).to_be_visible()
