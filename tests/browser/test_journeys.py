"""The users' journeys of the dashboard, in a real browser, asserting the answers: an
investigator goes from the top finding to exactly its evidence and triages it; a signed-out
deep link returns to its page and query after sign-in."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.test_investigation import (
    EVIDENCE,
    _expect_metric,
    _expected_ids,
    _select_first_row,
)
from tests.dashboard.known_data import seed_findings
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


@pytest.mark.browser
def test_from_the_top_finding_to_exactly_its_evidence_and_triage(dashboard, page):
    seed_findings(dashboard.db)
    added = add_user(dashboard.db, email="ivy@company.com", org="org_a", role="admin", actor="t")
    page.goto(f"{dashboard.url}/anomalies")
    _fill_sign_in(page, "ivy@company.com", str(added.password))
    page.get_by_role("heading", name="Anomalies").wait_for()
    page.get_by_text("Detection covered the UTC days 2025-01-15 to 2025-01-15").wait_for()

    # The top finding, its status in view at once.
    _select_first_row(page, page.locator('[data-testid="stDataFrame"]').first)
    page.get_by_role("heading", name="Export at 2 a.m.").wait_for()
    status = page.locator('[data-testid="stMetric"]').filter(has_text="Status")
    expect(status.locator('[data-testid="stMetricValue"]')).to_have_text("new")
    assert status.bounding_box()["y"] < page.viewport_size["height"]

    # Exactly its evidence in Explore, and Back keeps the finding.
    page.get_by_role("button", name="Show these events in Explore").click()
    page.get_by_role("heading", name="Explore").wait_for()
    expect(page.get_by_role("textbox", name="Query")).to_have_value(EVIDENCE)
    expected = _expected_ids(dashboard.db, "org_a", EVIDENCE)
    _expect_metric(page, "Matching events", str(len(expected)))
    page.go_back()
    page.get_by_role("heading", name="Export at 2 a.m.").wait_for()

    # Triage: the history shows who, the status and the comment; the box is empty again.
    page.get_by_role("heading", name="Triage").scroll_into_view_if_needed()
    page.get_by_text("Not triaged yet.").wait_for()
    page.get_by_role("textbox", name="Comment").fill("john exported the quarter's payroll")
    page.get_by_role("button", name="Save triage").click()
    history = page.locator('[data-testid="stDataFrame"]').last
    expect(page.get_by_text("Not triaged yet.")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Comment")).to_have_value("")
    with dashboard.db.org_session("org_a") as session:
        (row,) = session.execute("SELECT actor, status, comment FROM org_finding_triage").rows
    assert row == ("ivy@company.com", "new", "john exported the quarter's payroll")
    history.wait_for()
    # The history on the page: who triaged it, to which status, with the comment.
    expect(history).to_contain_text("ivy@company.com")
    expect(history).to_contain_text("john exported the quarter's payroll")
    assert history.bounding_box()["height"] > 2 * 35
