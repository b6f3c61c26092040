"""Dashboard fixtures: AppTest pages run in-process against the test's own database, with a
viewer signed in through a real session token in `st.session_state`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.context import SESSION_TOKEN_KEY
from dashboard.drilldown import EXPLORE_PAGE
from sql.event_store import insert_events
from sql.gateway import Database
from sql.settings import DATABASE_URL_ENV
from tests.dashboard.known_data import FIRST_DAY, LAST_DAY, explore_rows
from usecases.accounts import add_user, open_session

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "pages"
EXPLORE = PAGES.parent / EXPLORE_PAGE


@pytest.fixture
def dashboard_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The test database, also the one the dashboard pages connect to."""
    monkeypatch.setenv(DATABASE_URL_ENV, db.url)
    yield db
    from dashboard.resources import _database

    _database.clear()


@pytest.fixture
def known(dashboard_db: Database) -> Database:
    """The dashboard database holding Explore's data set (`known_data.explore_rows`)."""
    with dashboard_db.writer() as session:
        insert_events(session, explore_rows())
    return dashboard_db


SignIn = Callable[..., str]


@pytest.fixture
def sign_in(dashboard_db: Database) -> SignIn:
    """`sign_in(email, org, role, can_export=False)` -> a live session token for AppTest."""

    def make(email: str, org: str, role: str = "admin", *, can_export: bool = False) -> str:
        added = add_user(
            dashboard_db, email=email, org=org, role=role, can_export=can_export, actor="test"
        )
        token, _viewer = open_session(dashboard_db, added.user_id, method="test")
        return token

    return make


def page_test(page: str, token: str | None, **query: str) -> AppTest:
    """An AppTest of one page file with the session token (if any) and URL query set."""
    at = AppTest.from_file(str(PAGES / page), default_timeout=30)
    if token is not None:
        at.session_state[SESSION_TOKEN_KEY] = token
    for name, value in query.items():
        at.query_params[name] = value
    return at


def run_compliance_report(
    at: AppTest, resource: str = "payment-logs", resource_type: str = "source"
) -> AppTest:
    """Fill the Compliance page's form for the known data's days and press Run report."""
    at.text_input(key="compliance_resource").input(resource)
    at.text_input(key="compliance_resource_type").input(resource_type)
    at.date_input(key="compliance_from").set_value(FIRST_DAY)
    at.date_input(key="compliance_to").set_value(LAST_DAY)
    next(b for b in at.button if b.label == "Run report").click()
    return at.run()


def download_url(at: AppTest, key: str) -> str:
    """The URL path of the download link `key` a page rendered (`download_widget`)."""
    import html
    import re

    for block in at.markdown:
        found = re.search(rf'<a id="{re.escape(key)}" href="([^"]+)"', block.value)
        if found:
            return html.unescape(found.group(1))
    raise AssertionError(f"no download link {key!r} on the page")


def fetch_download(db: Database, url: str, cookie: str | None) -> Any:
    """GET a download link through the dashboard's download route, with the browser's session
    cookie (None: without one); returns the httpx response."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from dashboard.download_route import download_routes
    from dashboard.session_cookie import COOKIE_NAME

    client = TestClient(Starlette(routes=download_routes(lambda: db)))
    if cookie is not None:
        client.cookies.set(COOKIE_NAME, cookie)
    return client.get(url)
