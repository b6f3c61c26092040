"""The navigation shell and `auditlens users add`: nothing but sign-in without a session, the
pages after it, and accounts created from the command line with their password shown once."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options
from typer.testing import CliRunner

from cli import app
from dashboard.context import SESSION_TOKEN_KEY
from sql.settings import DATABASE_URL_ENV
from usecases import accounts

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def test_app_without_a_session_is_only_the_sign_in_page(dashboard_db):
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to AuditLens"
    assert len(at.sidebar.selectbox) == 0


def test_app_with_a_session_opens_the_first_page(dashboard_db, sign_in):
    token = sign_in("ann@example.com", "org_a", "admin")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state[SESSION_TOKEN_KEY] = token
    at.run()
    assert not at.exception
    assert at.title[0].value != "Sign in to AuditLens"
    assert at.sidebar.selectbox(key="auditlens_org").options == ["org_a"]


def test_a_listed_page_without_its_file_stops_the_app(dashboard_db, tmp_path):
    # The app as shipped, beside a pages folder where one file name is mistyped.
    app_copy = tmp_path / "app.py"
    app_copy.write_text(APP.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "pages").mkdir()
    for page in (APP.parent / "pages").glob("*.py"):
        name = "user.py" if page.name == "users.py" else page.name
        (tmp_path / "pages" / name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    # The shipped config keeps error text out of the browser; the test reads it in full.
    with patch_config_options({"client.showErrorDetails": "full"}):
        at = AppTest.from_file(str(app_copy), default_timeout=30).run()
    assert len(at.exception) == 1
    assert "dashboard pages missing" in at.exception[0].value
    assert "users.py" in at.exception[0].value


def test_users_add_prints_the_password_once_and_audits(dashboard_db, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, dashboard_db.url)
    runner = CliRunner()
    first = runner.invoke(
        app,
        ["users", "add", "Ann@Example.com", "--org", "org_a", "--role", "analyst", "--can-export"],
    )
    assert first.exit_code == 0, first.output
    assert "ann@example.com is analyst of org_a (may export)" in first.output
    password = first.output.split("store it now): ")[1].split()[0]
    _token, viewer = accounts.authenticate(dashboard_db, "ann@example.com", password)
    assert viewer.memberships["org_a"].may_export
    again = runner.invoke(
        app, ["users", "add", "ann@example.com", "--org", "org_b", "--role", "auditor"]
    )
    assert again.exit_code == 0 and "password" not in again.output
    bad = runner.invoke(app, ["users", "add", "x@y.z", "--org", "org_a", "--role", "root"])
    assert bad.exit_code != 0 and "--role must be one of" in bad.output
    with dashboard_db.org_session("org_a") as s:
        assert (
            s.scalar("SELECT count(*) FROM org_audit_events WHERE event_action = 'invite_member'")
            == 1
        )
