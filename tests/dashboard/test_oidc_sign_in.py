"""OIDC sign-in (`st.login`, [auth] in secrets) without a live provider: `st.user` is mocked
through AppTest. The identity's email maps to the built-in account, whose memberships give
the organisations and roles; the sign-in opens an audited, expiring session."""

from __future__ import annotations

import pytest

from dashboard.context import SESSION_TOKEN_KEY
from dashboard.markdown_text import md
from tests.dashboard.conftest import page_test
from usecases import accounts

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}


def _oidc_page(page: str, **user: object):
    at = page_test(page, None)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, **user}
    return at


def test_the_oidc_email_maps_to_the_accounts_roles(dashboard_db):
    accounts.add_user(
        dashboard_db,
        email="Ann@Example.com",
        org="org_a",
        role="analyst",
        actor="t",
        with_password=False,
    )
    accounts.add_user(dashboard_db, email="ann@example.com", org="org_b", role="auditor", actor="t")
    at = _oidc_page("overview.py", email="ANN@example.com", email_verified=True).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert at.sidebar.selectbox(key="auditlens_org").options == ["org_a", "org_b"]
    assert "· analyst" in at.sidebar.caption[0].value
    at.sidebar.selectbox(key="auditlens_org").select("org_b").run()
    assert "· auditor" in at.sidebar.caption[0].value

    # A real, expiring session was opened and its login audited as OIDC.
    viewer = accounts.viewer_for_token(dashboard_db, at.session_state[SESSION_TOKEN_KEY])
    assert viewer is not None and viewer.email == "ann@example.com"
    with dashboard_db.org_session("org_a") as s:
        logins = s.execute(
            "SELECT details->>'method' FROM org_audit_events"
            " WHERE event_action = 'login' AND user_email = 'ann@example.com'"
        ).rows
    assert logins == [("oidc",)]


def test_an_analyst_from_oidc_gets_no_export(dashboard_db):
    from sql.event_store import insert_events
    from tests.factories import event_row

    with dashboard_db.writer() as s:
        insert_events(s, [event_row(organization_id="org_a")])
    accounts.add_user(dashboard_db, email="al@example.com", org="org_a", role="analyst", actor="t")
    at = _oidc_page("explore.py", email="al@example.com", email_verified=True).run()
    assert not at.exception
    assert at.title[0].value == "Explore"
    labels = [b.label for b in at.button]
    assert not any("export" in label.lower() for label in labels)


def test_an_unknown_oidc_identity_gets_no_page(dashboard_db):
    at = _oidc_page("overview.py", email="stranger@example.com", email_verified=True).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"
    assert md("stranger@example.com has no AuditLens account") in at.error[0].value
    assert SESSION_TOKEN_KEY not in at.session_state


def test_an_unverified_oidc_email_is_not_mapped(dashboard_db):
    accounts.add_user(dashboard_db, email="ann@example.com", org="org_a", role="admin", actor="t")
    at = _oidc_page("overview.py", email="ann@example.com", email_verified=False).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"
    assert md("has not verified ann@example.com") in at.error[0].value
    assert SESSION_TOKEN_KEY not in at.session_state


@pytest.mark.parametrize(
    "claim", [{}, {"email_verified": None}, {"email_verified": "true"}, {"email_verified": 1}]
)
def test_only_a_boolean_true_email_verified_maps_to_an_account(dashboard_db, claim):
    accounts.add_user(dashboard_db, email="ann@example.com", org="org_a", role="admin", actor="t")
    at = _oidc_page("overview.py", email="ann@example.com", **claim).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"
    assert md("has not verified ann@example.com") in at.error[0].value
    assert SESSION_TOKEN_KEY not in at.session_state
