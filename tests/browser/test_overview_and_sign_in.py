"""The first things a user sees, in a real browser: a sign-in form of normal width on a wide
screen, and Overview's "Latest findings" honouring the period, each row opening its finding."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.grid import click_row
from tests.browser.script_state import wait_idle
from tests.browser.test_investigation import _sign_in
from tests.dashboard.known_data import seed_findings
from usecases.accounts import add_user


@pytest.mark.browser
def test_the_sign_in_form_has_a_normal_width_on_a_wide_screen(dashboard, page):
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(dashboard.url)
    page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
    form = page.get_by_test_id("stForm")
    email = page.get_by_role("textbox", name="Email")
    email.wait_for()
    for element in (form, email):
        box = element.bounding_box()
        assert box is not None and 200 < box["width"] < 600, box


@pytest.mark.browser
def test_a_latest_finding_on_the_overview_opens_that_finding(dashboard, page):
    seed_findings(dashboard.db)
    added = add_user(dashboard.db, email="ivy@company.com", org="org_a", role="admin", actor="t")
    _sign_in(page, dashboard.url, "ivy@company.com", str(added.password))
    # The events and the findings' activity are in January 2025: not in the default period.
    expect(page.get_by_text("No audit events in this period.", exact=False)).to_be_visible()
    expect(page.get_by_role("heading", name="Latest findings")).to_have_count(0)

    wait_idle(page)
    page.get_by_role("combobox", name="Period").click()
    page.get_by_role("option", name="All time", exact=True).click()
    # The findings' table by what it holds, not by its place: while the run redraws the page,
    # the last table on it may still be another one.
    table = page.get_by_test_id("stDataFrame").filter(has_text="Config burst")
    expect(table).to_contain_text("Export at 2 a.m.")
    # The second row (the lower score of the same day) opens that finding, not the first.
    wait_idle(page)
    click_row(page, table, 1)
    expect(page.get_by_role("heading", name="Anomalies")).to_be_visible()
    expect(page.get_by_role("heading", name="Config burst")).to_be_visible()
    # Streamlit sends the new URL with the run: it may land after the headings.
    expect(page).to_have_url(re.compile(r"/anomalies\?(.*&)?finding="))
    status = page.locator('[data-testid="stMetric"]').filter(has_text="Status")
    expect(status.locator('[data-testid="stMetricValue"]')).to_have_text("new")
