"""The Destinations page in a real browser: an admin adds an HTTPS destination; the secret is
typed into a password field and never comes back in the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from streaming import destinations
from tests.browser.test_investigation import _sign_in
from usecases.accounts import add_user

SECRET = "hec-token-never-shown-42"


@pytest.mark.browser
def test_admin_adds_a_destination_and_never_sees_its_secret(dashboard, page):
    added = add_user(dashboard.db, email="ada@company.com", org="org_a", role="admin", actor="t")
    _sign_in(
        page,
        f"{dashboard.url}/destinations",
        "ada@company.com",
        str(added.password),
        "Destinations",
    )
    page.get_by_role("heading", name="Add a destination").wait_for()
    name = page.get_by_role("textbox", name="Name (lowercase letters, digits, _ or -)")
    name.fill("splunk")
    page.get_by_role("textbox", name="URL (https://...)").fill(
        "https://splunk.example.com:8088/services/collector/event"
    )
    secret = page.get_by_label("Token, API key or HMAC key")
    expect(secret).to_have_attribute("type", "password")
    secret.fill(SECRET)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text("added splunk").first).to_be_visible(timeout=30_000)
    stored = destinations.get(dashboard.db, "org_a", "splunk")
    assert stored.secret == SECRET
    # After the rerun the form is empty again and nothing on the page holds the secret. The
    # browser empties the boxes once the rerun's elements arrive, which may be just after the
    # script stops: wait for the boxes themselves (a page that keeps the secret fails here).
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Active")).to_contain_text("1")
    expect(secret).to_have_value("")
    expect(name).to_have_value("")
    assert SECRET not in page.content()
