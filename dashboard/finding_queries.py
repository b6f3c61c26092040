"""Findings for the pages, read through `detection/findings.py`, cached per database and
organisation (see `overview_queries` for the cache-key rule)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from detection import findings
from sql.gateway import Database

TTL_SECONDS = 60


def _key(db: Database) -> str:
    return db.url


def list_findings(
    db: Database,
    org: str,
    *,
    status: str | None = None,
    min_severity: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Findings of `org`, as `detection.findings.list_findings` returns them."""
    return _list_findings(_key(db), org, status, min_severity, limit, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _list_findings(
    db_key: str,
    org: str,
    status: str | None,
    min_severity: str | None,
    limit: int,
    *,
    _db: Database,
) -> pd.DataFrame:
    return findings.list_findings(_db, org, status=status, min_severity=min_severity, limit=limit)


def forget_findings() -> None:
    """Drop cached findings (after a triage, so the new status shows at once)."""
    _list_findings.clear()
