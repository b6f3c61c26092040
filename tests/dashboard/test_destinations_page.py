"""The Destinations page (admins only): health of each destination, and adding, pausing,
resuming, testing, backfilling and removing one, each audited like the command line's;
secrets never shown; receivers' errors shown as text."""

from __future__ import annotations

from pathlib import Path

from sql.vocabulary import (
    ADD_STREAM_DESTINATION,
    BACKFILL_STREAM_DESTINATION,
    PAUSE_STREAM_DESTINATION,
    REMOVE_STREAM_DESTINATION,
    RESUME_STREAM_DESTINATION,
    TEST_STREAM_DESTINATION,
)
from streaming import destinations
from streaming.cursor import record_failure
from streaming.network import ALLOWED_NETWORKS_ENV
from tests.dashboard.conftest import page_test
from tests.dashboard.test_hostile_text import PHISH, _assert_inert, _rendered

SECRET = "tok-very-secret-123"
ADMIN = "admin@company.com"


def _audited(db, org: str) -> list[tuple[str, str, str | None, str | None]]:
    with db.org_session(org) as session:
        return [
            tuple(r)
            for r in session.execute(
                "SELECT event_action, resource_id, user_email, details->>'via'"
                " FROM org_audit_events WHERE resource_type = 'stream_destination'"
                " ORDER BY ingest_seq"
            ).rows
        ]


def _everything_shown(at) -> str:
    texts = _rendered(at)
    for frame in at.dataframe:
        texts.append(frame.value.to_csv())
    return "\n".join(texts)


def test_only_admins_see_destinations(dashboard_db, sign_in):
    at = page_test("destinations.py", sign_in("an@company.com", "org_a", "analyst")).run()
    assert not at.exception
    assert "Only admins" in at.error[0].value and not at.dataframe


def test_add_pause_resume_backfill_remove_all_audited(dashboard_db, sign_in):
    at = page_test("destinations.py", sign_in(ADMIN, "org_a", "admin")).run()
    assert not at.exception
    assert at.dataframe[0].value.empty
    at.text_input(key="destinations_name").input("splunk")
    at.text_input(key="destinations_url").input(
        "https://splunk.example.com:8088/services/collector"
    )
    at.selectbox(key="destinations_style").set_value("splunk")
    at.text_input(key="destinations_secret").input(SECRET)
    at.text_input(key="destinations_query").input("action:export")
    at = next(b for b in at.button if b.label == "Add").click().run()
    assert not at.exception, at.exception
    stored = destinations.get(dashboard_db, "org_a", "splunk")
    assert (stored.secret, stored.query, stored.settings["style"]) == (
        SECRET,
        "action:export",
        "splunk",
    )
    table = at.dataframe[0].value
    assert list(table["name"]) == ["splunk"] and list(table["state"]) == ["active"]
    assert SECRET not in _everything_shown(at)
    assert at.text_input(key="destinations_secret").value == ""  # not left in the form

    at = at.button(key="destinations_pause").click().run()
    assert destinations.get(dashboard_db, "org_a", "splunk").state == "paused"
    at = at.button(key="destinations_resume").click().run()
    assert destinations.get(dashboard_db, "org_a", "splunk").state == "active"
    at.text_input(key="destinations_backfill_from").input("2025-01-01T00:00Z")
    at = next(b for b in at.button if b.label == "Backfill").click().run()
    assert not at.exception
    assert destinations.get(dashboard_db, "org_a", "splunk").backfill_from is not None
    # Remove needs the confirmation first.
    assert at.button(key="destinations_remove").disabled
    at.checkbox(key="destinations_confirm").check().run()
    at = at.button(key="destinations_remove").click().run()
    assert not at.exception
    assert destinations.list_destinations(dashboard_db, "org_a") == []
    assert _audited(dashboard_db, "org_a") == [
        (action.name, "splunk", ADMIN, "dashboard")
        for action in (
            ADD_STREAM_DESTINATION,
            PAUSE_STREAM_DESTINATION,
            RESUME_STREAM_DESTINATION,
            BACKFILL_STREAM_DESTINATION,
            REMOVE_STREAM_DESTINATION,
        )
    ]


def test_bad_input_is_named_and_nothing_is_stored(dashboard_db, sign_in):
    at = page_test("destinations.py", sign_in(ADMIN, "org_a", "admin")).run()
    at.text_input(key="destinations_name").input("Bad Name")
    at.text_input(key="destinations_url").input("https://x.example.com/")
    at.text_input(key="destinations_secret").input(SECRET)
    at = next(b for b in at.button if b.label == "Add").click().run()
    assert not at.exception
    assert at.error[0].value.startswith("name")
    at.text_input(key="destinations_name").input("ok")
    at.text_input(key="destinations_url").input("http://plain.example.com/")
    at = next(b for b in at.button if b.label == "Add").click().run()
    assert at.error[0].value.startswith("url")
    at.text_input(key="destinations_url").input("https://x.example.com/")
    at.text_input(key="destinations_from").input("yesterday")
    at = next(b for b in at.button if b.label == "Add").click().run()
    assert at.error[0].value.startswith("from")
    assert destinations.list_destinations(dashboard_db, "org_a") == []
    assert SECRET not in _everything_shown(at)


def test_failing_destination_shows_its_error_as_text_and_a_test_failure_is_named(
    dashboard_db, sign_in, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, "127.0.0.1")  # a loopback port nobody listens on
    destinations.add(
        dashboard_db,
        "org_a",
        "siem",
        kind="syslog",
        payload="cef",
        settings={"host": "127.0.0.1", "port": 9},  # discard port: nobody listens
        actor="test",
    )
    dest = destinations.get(dashboard_db, "org_a", "siem")
    for _ in range(5):
        record_failure(
            dashboard_db, dest, f"HTTP 500: {PHISH}\n<b>x</b>", failing_after=5, max_backoff=60
        )
    at = page_test("destinations.py", sign_in(ADMIN, "org_a", "admin")).run()
    assert not at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["state"] == "failing" and row["failures_in_a_row"] == 5
    assert PHISH in row["last_error"]
    assert {m.label: m.value for m in at.metric}["Failing"] == "1"
    _assert_inert(_rendered(at))
    at = at.button(key="destinations_test").click().run()
    assert not at.exception
    assert at.error[0].value.startswith("siem")
    _assert_inert(_rendered(at))
    at = at.button(key="destinations_retry").click().run()
    assert destinations.get(dashboard_db, "org_a", "siem").state == "active"
    actions = [a[0] for a in _audited(dashboard_db, "org_a")]
    assert actions == [
        ADD_STREAM_DESTINATION.name,
        TEST_STREAM_DESTINATION.name,
        RESUME_STREAM_DESTINATION.name,
    ]


def test_a_second_organisation_sees_only_its_own(dashboard_db, sign_in):
    destinations.add(
        dashboard_db,
        "org_b",
        "theirs",
        kind="https",
        payload="json",
        settings={"url": "https://b.example.com/"},
        secret=SECRET,
        actor="test",
    )
    at = page_test("destinations.py", sign_in(ADMIN, "org_a", "admin")).run()
    assert not at.exception
    assert at.dataframe[0].value.empty
    assert "theirs" not in _everything_shown(at)
