"""The dashboard's server entry point: the Streamlit app (`dashboard/app.py`) plus the HTTP
routes that set and clear the HttpOnly session cookie (`dashboard/session_cookie.py`) and
stream export downloads (`dashboard/download_route.py`).

    streamlit run dashboard/server.py     # what `auditlens run` starts

`streamlit run` finds the `st.App` below and serves it with uvicorn; running `app.py`
directly still works, but then a reload signs the viewer out and downloads have no route.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute
from streamlit.runtime.pages_manager import PagesManager
from streamlit.starlette import App

from dashboard.download_route import download_routes
from dashboard.page_imports import import_page_modules
from dashboard.resources import database
from dashboard.session_cookie import base_path, cookie_routes

# app.py declares its pages with st.navigation. Streamlit sees the `pages/` folder beside it and,
# until some session has called st.navigation, routes by file name (its older multipage mode):
# /integrity was "Page not found" and the sidebar listed the files. st.navigation itself sets
# this flag; setting it before the first session makes every session route by st.navigation.
PagesManager.uses_pages_directory = False
import_page_modules()

APP_SCRIPT = Path(__file__).resolve().with_name("app.py")


def routes() -> list[BaseRoute]:
    """The dashboard's own HTTP routes, beside Streamlit's."""
    return [*cookie_routes(), *download_routes(database, base_path())]


app = App(APP_SCRIPT, routes=routes())
