"""The dashboard as the browser tests serve it: `dashboard/server.py`'s app, pages and routes,
plus one test-only route that forgets what the previous test left in the process.

One server serves a worker's browser tests one after another (starting Streamlit costs more
than most of these tests). Before each test, the fixture gives the server's database name a
fresh copy of the template and posts to RESET_PATH, which waits until the previous test's
browser sessions have gone and then clears every `st.cache_data` and `st.cache_resource`
entry: the next test's pages read only its own database (the connection pool is made again)
and no cached frame of the previous test's organisation.

    streamlit run tests/browser/shared_server.py
"""

from __future__ import annotations

import asyncio
import time

import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.runtime import Runtime
from streamlit.starlette import App

from dashboard import server
from tests.browser.reset import RESET_PATH, SESSIONS_GONE_SECONDS


def _active_sessions() -> int:
    # The runtime keeps its session manager private; this server is the tests' own.
    return Runtime.instance()._session_mgr.num_active_sessions()


async def _reset(request: Request) -> JSONResponse:
    deadline = time.monotonic() + SESSIONS_GONE_SECONDS
    while (active := _active_sessions()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if active:
        return JSONResponse({"active_sessions": active}, status_code=409)
    st.cache_data.clear()
    st.cache_resource.clear()
    return JSONResponse({"active_sessions": 0})


app = App(server.APP_SCRIPT, routes=[Route(RESET_PATH, _reset, methods=["POST"]), *server.routes()])
