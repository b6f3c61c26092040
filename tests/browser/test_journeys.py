"""The users' journeys of the dashboard, in a real browser, asserting the answers: an
investigator goes from the top finding to exactly its evidence and triages it; a signed-out
deep link returns to its page and query after sign-in."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from usecases.accounts import add_user

DEEP_QUERY = "user:u_john family:log_access"


def _fill_sign_in(page, email, password):
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.browser
def test_a_signed_out_deep_link_returns_to_its_page_and_query(dashboard, page):
    added = add_user(dashboard.db, email="ivy@company.com", org="org_a", role="admin", actor="t")
    # A page whose address is not its file name (integrity: tamper_evidence.py).
    page.goto(f"{dashboard.url}/integrity?org=org_a")
    page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
    # The form alone: no "Page not found" dialog over it.
    expect(page.get_by_text("Page not found")).to_have_count(0)
    _fill_sign_in(page, "ivy@company.com", str(added.password))
    page.get_by_role("heading", name="Integrity").wait_for()
    assert "/integrity" in page.url

    # Signed out again, a link to Explore with its query comes back with the query.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
    page.goto(f"{dashboard.url}/explore?q={quote(DEEP_QUERY)}")
    page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    _fill_sign_in(page, "ivy@company.com", str(added.password))
    page.get_by_role("heading", name="Explore").wait_for()
    expect(page.get_by_role("textbox", name="Query")).to_have_value(DEEP_QUERY)
    assert "/explore" in page.url and "q=" in page.url
