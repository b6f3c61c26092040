"""The AuditLens dashboard (Streamlit). Pages only wire widgets to the read-side modules."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="AuditLens", page_icon=":material/policy:", layout="wide")
navigation = st.navigation(
    [st.Page(str(PAGES / "overview.py"), title="Overview", icon=":material/dashboard:")]
)
navigation.run()
