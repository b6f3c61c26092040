"""The dashboard shell: nothing but sign-in without a session, the organisation picker limited
to the viewer's memberships, and page views recorded as audit events."""

from __future__ import annotations

from dashboard.context import SESSION_TOKEN_KEY
from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row
from usecases import accounts


def _audit_log_events(db, org):
    with db.org_session(org) as s:
        return s.execute(
            "SELECT event_type, event_action, user_email, resource_type, details"
            " FROM org_audit_events WHERE resource_type = 'audit_log' ORDER BY ingest_seq"
        ).dicts()


def test_without_a_session_only_the_sign_in_form_shows(dashboard_db):
    with dashboard_db.writer() as s:
        insert_events(s, [event_row(organization_id="org_a")])
    at = page_test("overview.py", None).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"
    assert len(at.metric) == 0 and len(at.sidebar.selectbox) == 0
    assert at.text_input(key="signin_email") is not None


def test_signing_in_through_the_form_opens_the_page(dashboard_db):
    added = accounts.add_user(
        dashboard_db, email="ann@example.com", org="org_a", role="auditor", actor="t"
    )
    at = page_test("overview.py", None).run()
    at.text_input(key="signin_email").input("ann@example.com")
    at.text_input(key="signin_password").input("wrong")
    at.button[0].click().run()
    assert not at.exception
    assert "email or password is wrong" in at.error[0].value
    at.text_input(key="signin_password").input(added.password)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state[SESSION_TOKEN_KEY]
    assert at.title[0].value == "Overview"
    assert at.sidebar.selectbox(key="auditlens_org").options == ["org_a"]


def test_viewer_sees_only_their_organisations(dashboard_db, sign_in):
    with dashboard_db.writer() as s:
        insert_events(
            s,
            [event_row(organization_id="org_a")] * 1
            + [event_row(organization_id="org_b", event_type="config_change") for _ in range(3)],
        )
    token = sign_in("ann@example.com", "org_a", "analyst")
    at = page_test("overview.py", token, org="org_b").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="auditlens_org").options == ["org_a"]
    assert at.sidebar.selectbox(key="auditlens_org").value == "org_a"
    labels = {m.label for m in at.metric}
    assert "config change" not in labels  # org_b's family never shows


def test_page_view_is_recorded_once_per_visit(dashboard_db, sign_in):
    token = sign_in("ann@example.com", "org_a", "admin")
    at = page_test("overview.py", token).run()
    at.run()  # a rerun of the same page is not a second view
    assert not at.exception
    views = [
        e for e in _audit_log_events(dashboard_db, "org_a") if e["event_action"] == "view_logs"
    ]
    assert len(views) == 1
    assert views[0]["user_email"] == "ann@example.com"
    assert views[0]["details"]["page"] == "Overview"


def test_org_in_the_url_picks_the_organisation(dashboard_db, sign_in):
    token = sign_in("ann@example.com", "org_a", "admin")
    accounts.add_user(dashboard_db, email="ann@example.com", org="org_b", role="auditor", actor="t")
    at = page_test("overview.py", token, org="org_b").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="auditlens_org").value == "org_b"
    assert at.query_params["org"] == ["org_b"] or at.query_params["org"] == "org_b"


def test_signing_out_ends_the_session(dashboard_db, sign_in):
    token = sign_in("ann@example.com", "org_a", "admin")
    at = page_test("overview.py", token).run()
    at.sidebar.button(key="auditlens_sign_out").click().run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"
    assert accounts.viewer_for_token(dashboard_db, token) is None
