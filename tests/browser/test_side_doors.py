"""What a real browser gets that AppTest cannot show: no table download button beside the
audited export, and a hostile shared link rendered as text (no link, no image fetched)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.test_investigation import _sign_in
from tests.dashboard.known_data import seed
from usecases.accounts import add_user

HOSTILE = '"![x](http://host.invalid/i.png) [Session expired](http://host.invalid/phish) :smile:"'


@pytest.mark.browser
def test_no_table_download_and_a_hostile_link_is_text(dashboard, page):
    seed(dashboard.db)
    added = add_user(dashboard.db, email="ivy@company.com", org="org_a", role="admin", actor="t")
    _sign_in(page, f"{dashboard.url}/explore", "ivy@company.com", str(added.password), "Explore")

    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    table.hover()
    # The toolbar is there (its search shows), without Streamlit's own CSV download.
    toolbar = page.locator('[data-testid="stElementToolbar"]').first
    expect(toolbar.get_by_role("button", name="Search")).to_be_visible()
    expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)

    fetched: list[str] = []
    page.on(
        "request",
        lambda r: fetched.append(r.url) if urlsplit(r.url).hostname == "host.invalid" else None,
    )
    page.goto(f"{dashboard.url}/explore?q={quote(HOSTILE)}")
    # Visible only: the Saved searches section holds the query too, inside a closed expander.
    caption = page.get_by_text("Session expired").filter(visible=True).first
    caption.wait_for()
    # Shown as typed (a word joiner, invisible, follows each colon: no shortcode matches).
    shown = caption.inner_text().replace("\u2060", "")
    assert "[Session expired](http://host.invalid/phish) :smile:" in shown
    expect(page.get_by_role("link", name="Session expired")).to_have_count(0)
    expect(page.locator('img[src*="host.invalid"]')).to_have_count(0)
    assert "\U0001f604" not in shown
    assert fetched == []
