"""Waiting for Streamlit to finish a run before the next interaction: a dropdown opened
while the script still runs can be replaced by the rerun's element and close unseen."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def wait_idle(page: Any) -> None:
    """Until the app's script is not running (the state Streamlit itself exposes)."""
    expect(page.locator(IDLE)).to_have_count(1)
