"""Users page reads sized to what the page shows: the events per day of the users in the
matrix, and one user's features over the baseline days, instead of every user's features
over the whole period. Both come from `ReadModel.user_day_features(user_ids=...)`, which
probes the rollups one (day, user) key at a time. Cached per database, organisation and
arguments for TTL_SECONDS; `_db` stays out of the cache key by its underscore.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
import streamlit as st

from dashboard.user_patterns import BASELINE_FEATURES
from sql.gateway import Database
from sql.read_model import ReadModel

TTL_SECONDS = 60
# The most days one read spans: a year (the longest preset) plus the baseline.
MAX_DAYS = 400
MAX_USERS = 200

BASELINE_COLUMNS: tuple[str, ...] = ("day", "user_id", *BASELINE_FEATURES)


def _check_days(first: date, last: date) -> None:
    if last < first:
        raise ValueError(f"the last day ({last}) is before the first ({first})")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days at once, got {count}")


def daily_events(
    db: Database, org: str, first: date, last: date, user_ids: Sequence[str]
) -> pd.DataFrame:
    """day, user_id, events for the given users on the UTC days first..last (inclusive);
    days without events have no row."""
    _check_days(first, last)
    users = tuple(sorted({str(u) for u in user_ids}))[:MAX_USERS]
    return _daily_events(db.cache_key, org, first, last, users, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _daily_events(
    db_key: str, org: str, first: date, last: date, users: tuple[str, ...], *, _db: Database
) -> pd.DataFrame:
    if not users:
        return pd.DataFrame({"day": [], "user_id": [], "events": []})
    # Events only: the distinct resource and IP counts would read every per-resource and
    # per-IP rollup row of the matrix's users, and a fresh rollup without planner statistics
    # joins them by nested loops (seconds on the demo), for columns the matrix drops.
    features = ReadModel(_db, may_lag=True).user_day_features(
        org, first, last, user_ids=users, distinct_counts=False
    )
    return features[["day", "user_id", "events"]].reset_index(drop=True)


def user_days(db: Database, org: str, user_id: str, first: date, last: date) -> pd.DataFrame:
    """One user's baseline features per active UTC day first..last (BASELINE_COLUMNS)."""
    _check_days(first, last)
    return _user_days(db.cache_key, org, str(user_id), first, last, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _user_days(
    db_key: str, org: str, user_id: str, first: date, last: date, *, _db: Database
) -> pd.DataFrame:
    features = ReadModel(_db, may_lag=True).user_day_features(org, first, last, user_ids=[user_id])
    return features[list(BASELINE_COLUMNS)].reset_index(drop=True)
