"""The AuditLens dashboard (Streamlit). Pages only wire widgets to the read-side modules.

Without a live session every page's address shows the sign-in form, and signing in opens
the page (and query) that was asked for. Served through
`dashboard/server.py`, the session also lives in an HttpOnly cookie (survives reloads).
Pages are listed in PAGES; a listed page without its file stops the app with an error naming
it (a mistyped name would otherwise drop the page from the menu unnoticed).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.context import current_viewer, render_session_cookie, render_sign_in
from dashboard.resources import database

PAGE_DIR = Path(__file__).resolve().parent / "pages"
# (file, title, icon, url path) in menu order.
PAGES = [
    ("overview.py", "Overview", ":material/dashboard:", "overview"),
    ("explore.py", "Explore", ":material/manage_search:", "explore"),
    ("users.py", "Users", ":material/group:", "users"),
    ("anomalies.py", "Anomalies", ":material/crisis_alert:", "anomalies"),
    ("compliance.py", "Compliance", ":material/verified_user:", "compliance"),
    ("config_changes.py", "Config changes", ":material/tune:", "config-changes"),
    ("tamper_evidence.py", "Integrity", ":material/verified:", "integrity"),
    ("catalogue.py", "Resources", ":material/inventory_2:", "resources"),
    ("destinations.py", "Destinations", ":material/cell_tower:", "destinations"),
]
_missing = [name for name, *_ in PAGES if not (PAGE_DIR / name).is_file()]
if _missing:
    raise FileNotFoundError(f"dashboard pages missing from {PAGE_DIR}: {', '.join(_missing)}")

st.set_page_config(page_title="AuditLens", page_icon=":material/policy:", layout="wide")
db = database()
if current_viewer(db) is None:
    # Every page's address answers with the sign-in form: a deep link (/explore?q=...) shows
    # the form instead of "Page not found", and since a page's identity is its url_path, the
    # rerun after sign-in runs the page that was asked for, with its query intact.
    navigation = st.navigation(
        [
            st.Page(
                lambda: render_sign_in(db), title="Sign in", icon=":material/login:", url_path=path
            )
            for *_, path in PAGES
        ],
        position="hidden",
    )
else:
    navigation = st.navigation(
        [
            st.Page(str(PAGE_DIR / name), title=title, icon=icon, url_path=url_path)
            for name, title, icon, url_path in PAGES
        ]
    )
# Before the page runs: a page may stop the script (st.stop), the cookie must still be set.
render_session_cookie()
navigation.run()
