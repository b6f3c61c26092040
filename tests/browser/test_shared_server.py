"""The browser tests share one dashboard process per worker (tests/browser/shared_server.py):
a test after another must see nothing of it, neither its data through the server's caches
nor its sign-in through a cookie."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import fresh_database, new_context
from tests.browser.script_state import wait_idle
from tests.browser.test_investigation import _sign_in
from tests.dashboard.known_data import seed_findings
from usecases.accounts import add_user

EMAIL = "ivy@company.com"
SESSION_COOKIE = "auditlens_session"


def _cookie_names(context) -> list[str]:
    return [c["name"] for c in context.cookies()]


def _show_all_time(page) -> None:
    wait_idle(page)
    page.get_by_role("combobox", name="Period").click()
    page.get_by_role("option", name="All time", exact=True).click()


@pytest.mark.browser
def test_a_test_after_another_sees_none_of_its_data_or_sign_in(
    shared_dashboard, pg_server, chromium
):
    url = shared_dashboard.url
    # The first test: findings in org_a, cached by the server as the overview shows them.
    with fresh_database(shared_dashboard, pg_server) as db:
        seed_findings(db)
        added = add_user(db, email=EMAIL, org="org_a", role="admin", actor="t")
        first = new_context(chromium)
        try:
            page = first.new_page()
            _sign_in(page, url, EMAIL, str(added.password))
            _show_all_time(page)
            findings = page.get_by_test_id("stDataFrame").filter(has_text="Config burst")
            expect(findings).to_have_count(1)
            assert SESSION_COOKIE in _cookie_names(first)
        finally:
            first.close()

    # The next test: the same organisation and user in a database of its own, without findings.
    with fresh_database(shared_dashboard, pg_server) as db:
        added = add_user(db, email=EMAIL, org="org_a", role="admin", actor="t")
        second = new_context(chromium)
        try:
            page = second.new_page()
            assert second.cookies() == []
            page.goto(url)
            # Not signed in by anything of the first test: the sign-in form, no session cookie.
            page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
            assert SESSION_COOKIE not in _cookie_names(second)
            _sign_in(page, url, EMAIL, str(added.password))
            _show_all_time(page)
            # What the first test's overview cached is gone: this database has no events.
            no_events = page.get_by_text("No audit events in this period.", exact=False)
            expect(no_events).to_be_visible()
            expect(page.get_by_role("heading", name="Latest findings")).to_have_count(0)
            wait_idle(page)
            expect(page.get_by_text("Config burst")).to_have_count(0)
        finally:
            second.close()
