"""The Resources page (admins only): suggestions for undescribed resources, confirming them
and describing one, every change audited, hostile names shown as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.catalogue import checked_entry, entries, set_entries
from sql.event_store import insert_events
from sql.vocabulary import DESCRIBE_RESOURCE
from tests.dashboard.conftest import page_test
from tests.dashboard.test_hostile_text import PHISH, _assert_inert, _rendered
from tests.factories import event_row


def _recent(db, *ids: str) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    with db.writer() as session:
        insert_events(
            session,
            [
                event_row(resource_id=rid, event_time=now - timedelta(minutes=i))
                for i, rid in enumerate(ids)
            ],
        )


def test_only_admins_see_the_catalogue(dashboard_db, sign_in):
    _recent(dashboard_db, "payment-logs")
    at = page_test("catalogue.py", sign_in("an@company.com", "org_a", "analyst")).run()
    assert not at.exception
    assert "Only admins" in at.error[0].value and not at.dataframe


def test_review_confirm_and_describe(dashboard_db, sign_in):
    _recent(dashboard_db, "payment-logs", "customer-data", "hr-events", "build-logs")
    at = page_test("catalogue.py", sign_in("admin@company.com", "org_a", "admin")).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # Undescribed: build-logs, and the dashboard's own record of this visit (its own stream).
    assert (metrics["Confirmed"], metrics["Suggested"]) == ("0", "3")
    assert "build-logs" in at.selectbox(key="catalogue_pick").options
    table = at.dataframe[0].value
    assert set(table["resource"]) == {"payment-logs", "customer-data", "hr-events"}
    assert set(table["sensitivity"]) == {"restricted"} and set(table["status"]) == {"suggested"}
    at = at.button(key="catalogue_confirm_all").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Confirmed"] == "3"
    assert entries(dashboard_db, "org_a")["hr-events"].tags == ("hr", "pii")
    # Describe the undescribed one, with a hostile display name.
    at.selectbox(key="catalogue_pick").set_value("build-logs").run()
    at.text_input(key="catalogue_name").input(PHISH)
    at.selectbox(key="catalogue_level").set_value("confidential")
    at.text_input(key="catalogue_owner").input("Platform")
    at = next(b for b in at.button if b.label == "Confirm").click().run()
    assert not at.exception
    stored = entries(dashboard_db, "org_a")["build-logs"]
    assert (stored.display_name, stored.sensitivity, stored.owner_team) == (
        PHISH,
        "confidential",
        "Platform",
    )
    assert stored.confirmed_by is not None
    _assert_inert(_rendered(at))
    with dashboard_db.org_session("org_a") as s:
        audited = s.execute(
            "SELECT user_email, details->>'resource_id', details->>'via' FROM org_audit_events"
            " WHERE event_action = :a ORDER BY ingest_seq",
            {"a": DESCRIBE_RESOURCE.name},
        ).rows
    assert len(audited) == 4 and audited[-1] == ("admin@company.com", "build-logs", "dashboard")
    # A bad tag is named, nothing stored.
    at.text_input(key="catalogue_tags").input("ok, not ok!")
    at = next(b for b in at.button if b.label == "Confirm").click().run()
    assert at.error[0].value.startswith("tags")
    assert entries(dashboard_db, "org_a")["build-logs"].tags == ()


def test_a_second_organisation_sees_only_its_own(dashboard_db, sign_in):
    set_entries(
        dashboard_db, "org_a", [checked_entry("secret-a", "restricted")], actor="t", via="t"
    )
    at = page_test("catalogue.py", sign_in("eve@org-b.com", "org_b", "admin")).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Confirmed"] == "0"
    assert "secret-a" not in at.selectbox(key="catalogue_pick").options
    at.radio(key="catalogue_show").set_value("all").run()
    assert "secret-a" not in set(at.dataframe[0].value["resource"])
