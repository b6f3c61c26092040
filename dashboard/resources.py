"""Process-wide resources of the dashboard, created once per Streamlit server."""

from __future__ import annotations

import streamlit as st

from sql.gateway import Database
from sql.settings import Settings


@st.cache_resource(show_spinner=False)
def _database(url: str | None, read_url: str | None) -> Database:
    return Database.open(Settings.from_env())


def database() -> Database:
    """The one connection pool of this dashboard process (per configured database URL and read
    replica URL, so a test pointing AUDITLENS_DATABASE_URL at its own database gets its own
    pool)."""
    settings = Settings.from_env()
    return _database(settings.database_url, settings.read_database_url)
