"""The Overview's busiest sources, ranked by events only: `ReadModel.top_resources` without
the distinct users per resource, which the Overview does not show and which took most of its
time on 10 million events. Cached per database, organisation and arguments for TTL_SECONDS.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from sql.gateway import Database
from sql.read_model import ReadModel

TTL_SECONDS = 60
MAX_N = 100


def busiest_resources(
    db: Database, org: str, start: datetime, end: datetime, n: int = 10
) -> pd.DataFrame:
    """resource_type, resource_id, events: the `n` resources with most events in [start, end)."""
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n must be between 1 and {MAX_N}, got: {n}")
    t0, t1 = start.astimezone(UTC), end.astimezone(UTC)
    if t1 < t0:
        raise ValueError(f"end ({t1.isoformat()}) is before start ({t0.isoformat()})")
    return _busiest(db.cache_key, org, t0, t1, n, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _busiest(
    db_key: str, org: str, t0: datetime, t1: datetime, n: int, *, _db: Database
) -> pd.DataFrame:
    return ReadModel(_db, may_lag=True).top_resources(org, t0, t1, n=n, distinct_users=False)
