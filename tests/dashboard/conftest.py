"""Dashboard fixtures: AppTest pages run in-process against the test's own database, with a
viewer signed in through a real session token in `st.session_state`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.context import SESSION_TOKEN_KEY
from sql.gateway import Database
from sql.settings import DATABASE_URL_ENV
from usecases.accounts import add_user, open_session

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "pages"


@pytest.fixture
def dashboard_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The test database, also the one the dashboard pages connect to."""
    monkeypatch.setenv(DATABASE_URL_ENV, db.url)
    yield db
    from dashboard.resources import _database

    _database.clear()


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
