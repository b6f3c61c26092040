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


def _sign_in_to_anomalies(page, url: str, password: str) -> None:
    # Its list of findings is cached by organisation and filters alone (no period, no "now"):
    # an entry the first test left would be served to the second as it is.
    _sign_in(page, f"{url}/anomalies", EMAIL, password, "Anomalies")


@pytest.mark.browser
def test_a_test_after_another_sees_none_of_its_data_or_sign_in(
    shared_dashboard, pg_server, chromium
):
    url = shared_dashboard.url
    # The first test: findings in org_a, cached by the server as the Anomalies page lists them.
    with fresh_database(shared_dashboard, pg_server) as db:
        seed_findings(db)
        added = add_user(db, email=EMAIL, org="org_a", role="admin", actor="t")
        first = new_context(chromium)
        try:
            page = first.new_page()
            _sign_in_to_anomalies(page, url, str(added.password))
            listed = page.get_by_test_id("stDataFrame").filter(has_text="Config burst")
            expect(listed).to_be_visible()
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
            _sign_in_to_anomalies(page, url, str(added.password))
            # What the first test's page cached is gone: this database has no findings.
            expect(page.get_by_text("No findings match.", exact=False)).to_be_visible()
            wait_idle(page)
            expect(page.get_by_text("Config burst")).to_have_count(0)
        finally:
            second.close()
