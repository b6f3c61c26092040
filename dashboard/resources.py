"""Process-wide resources of the dashboard, created once per Streamlit server."""

from __future__ import annotations

import streamlit as st

from sql.gateway import Database


@st.cache_resource(show_spinner=False)
def database() -> Database:
    """The one connection pool of this dashboard process."""
    return Database.open()
