"""Explore keeps AuditLens's own use (the meta-audit) out of the organisation's events, and
shows it as its own stream to admins and auditors only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.download_route import download_link
from dashboard.markdown_text import md
from detection.findings import triage
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.dashboard.conftest import fetch_download, page_test
from tests.dashboard.known_data import seed_findings
from tests.factories import event_row

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _seed(db):
    rows = [event_row(id=f"e{i}", event_time=T0 + timedelta(minutes=i)) for i in range(3)]
    with db.writer() as session:
        insert_events(session, rows)


def test_the_viewers_own_searches_do_not_grow_the_organisations_figures(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token, q="family:log_access").run()
    for text in ("a", "b", "c"):
        at.text_input(key="explore_text").input(text).run()
    at.text_input(key="explore_text").input("").run()
    assert not at.exception
    assert at.metric[0].value == "3"
    assert set(at.dataframe[0].value["id"]) == {"e0", "e1", "e2"}


def test_admins_see_auditlens_activity_as_its_own_stream(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="family:log_access").run()
    at.toggle(key="explore_own_use").set_value(True).run()
    assert not at.exception
    assert at.text_input(key="explore_query").value == "family:log_access stream:auditlens"
    table = at.dataframe[0].value
    assert len(table) >= 1 and set(table["user_email"]) == {"ann@company.com"}
    assert not {"e0", "e1", "e2"} & set(table["id"])
    assert any(md("AuditLens's own use") in c.value for c in at.caption)


def test_analysts_do_not_get_the_own_stream(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("bob@company.com", "org_a", "analyst", can_export=True)
    at = page_test("explore.py", token, q="stream:auditlens").run()
    assert not at.exception
    assert not at.get("toggle")
    assert "admins and auditors only" in at.error[0].value
    assert set(at.dataframe[0].value["id"]) == {"e0", "e1", "e2"}


def test_an_analysts_download_of_the_own_stream_is_refused(dashboard_db, sign_in):
    _seed(dashboard_db)
    own = EventFilter(own_use=True)
    admin = sign_in("ann@company.com", "org_a", "admin")
    link = download_link(admin, "org_a", own, "csv", file_name="own.csv")
    assert fetch_download(dashboard_db, link, admin).status_code == 200
    analyst = sign_in("bob@company.com", "org_a", "analyst", can_export=True)
    link = download_link(analyst, "org_a", own, "csv", file_name="own.csv")
    refused = fetch_download(dashboard_db, link, analyst)
    assert refused.status_code == 403 and "admins and auditors only" in refused.text


def test_a_triage_event_names_its_user(dashboard_db):
    seed_findings(dashboard_db)
    with dashboard_db.org_session("org_a") as s:
        finding_id = s.scalar("SELECT min(finding_id) FROM org_findings")
    triage(dashboard_db, "org_a", finding_id, "investigating", "", actor="lead@company.com")
    with dashboard_db.org_session("org_a") as s:
        (row,) = s.execute(
            "SELECT user_id, user_email, own_use FROM org_audit_events"
            " WHERE event_action = 'triage_finding'"
        ).rows
    assert row == ("lead@company.com", "lead@company.com", True)
