"""Pages show a resource's display name with its id beside it, from the catalogue."""

from __future__ import annotations

from sql.catalogue import checked_entry, set_entries
from tests.dashboard.conftest import page_test


def test_explore_resource_filter_shows_the_display_name_and_keeps_the_id(known, sign_in):
    set_entries(
        known,
        "org_a",
        [checked_entry("payment-logs", "restricted", display_name="Payment logs")],
        actor="t",
        via="test",
    )
    at = page_test("explore.py", sign_in("ann@company.com", "org_a", "admin")).run()
    at.text_input(key="explore_query").input("resource:payment-logs").run()
    assert not at.exception
    picker = at.multiselect(key="explore_resources")
    # The options are the resources in the data; the described one shows its name and id.
    assert "Payment logs — payment-logs" in picker.options
    assert "payment-logs" not in picker.options
    assert at.session_state["explore_resources"] == ["payment-logs"]
    assert at.text_input(key="explore_query").value == "resource:payment-logs"
