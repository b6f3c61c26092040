"""Findings for the pages, read through `detection/findings.py`, cached per database and
organisation (see `overview_queries` for the cache-key rule)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Findings of `org`, as `detection.findings.list_findings` returns them."""
    return _list_findings(_key(db), org, status, min_severity, limit, since, until, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _list_findings(
    db_key: str,
    org: str,
    status: str | None,
    min_severity: str | None,
    limit: int,
    since: datetime | None,
    until: datetime | None,
    *,
    _db: Database,
) -> pd.DataFrame:
    return findings.list_findings(
        _db, org, status=status, min_severity=min_severity, limit=limit, since=since, until=until
    )


def finding(db: Database, org: str, finding_id: str) -> dict[str, Any] | None:
    """One finding with its triage history, read fresh (a triage shows at once)."""
    return findings.get_finding(db, org, finding_id)


def coverage(db: Database, org: str) -> findings.DetectionCoverage | None:
    """Which days detection covered for `org` and when it last ran (read fresh)."""
    return findings.detection_coverage(db, org)


def forget_findings() -> None:
    """Drop cached findings (after a triage, so the new status shows at once)."""
    _list_findings.clear()
