"""Overview reads through the read model (`sql/read_model/`), cached per database,
organisation and arguments; `_db` stays out of the cache key by its underscore, the database
URL (`db_key`) is in it, so two databases in one process (tests) never share an entry."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from sql.gateway import Database
from sql.read_model import ReadModel

TTL_SECONDS = 60


def _key(db: Database) -> str:
    return db.cache_key


def run_concurrently(calls: Sequence[Callable[[], object]]) -> None:
    """Run independent reads at once, each on a connection of its own, and wait for all: a
    page that needs several read-model answers waits for the slowest, not for their sum.
    Meant for cached reads, whose answers the page's own calls then find in the cache; an
    error is left for that call to raise (with its page's message)."""
    script = get_script_run_ctx()

    def guarded(call: Callable[[], object]) -> None:
        with contextlib.suppress(Exception):  # the page's own call raises it
            call()

    threads = [threading.Thread(target=guarded, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        if script is not None:  # lets cached functions and widgets see the page's session
            add_script_run_ctx(thread, script)
        thread.start()
    for thread in threads:
        thread.join()


def prefetch_overview(db: Database, org: str, start: datetime, end: datetime, bucket: str) -> None:
    """The Overview's four independent reads, concurrently, into their caches."""
    from dashboard import resource_queries

    run_concurrently(
        [
            lambda: totals(db, org, start, end),
            lambda: timeline(db, org, start, end, bucket),
            lambda: top_users(db, org, start, end),
            lambda: resource_queries.busiest_resources(db, org, start, end),
        ]
    )


def totals(db: Database, org: str, start: datetime, end: datetime) -> dict[str, Any]:
    """events, users, resources and by_family of `org` in [start, end)."""
    return _totals(_key(db), org, start, end, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _totals(db_key: str, org: str, start: datetime, end: datetime, *, _db: Database) -> Any:
    return ReadModel(_db, may_lag=True).totals(org, start, end)


def timeline(db: Database, org: str, start: datetime, end: datetime, bucket: str) -> pd.DataFrame:
    """bucket, event_type, events: per family, as the chart stacks them (the read model's
    per-family series, a fraction of the rows of the per-action ones)."""
    return _timeline(_key(db), org, start, end, bucket, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _timeline(
    db_key: str, org: str, start: datetime, end: datetime, bucket: str, *, _db: Database
) -> pd.DataFrame:
    return ReadModel(_db, may_lag=True).timeline(org, start, end, bucket=bucket, by_action=False)


def top_users(db: Database, org: str, start: datetime, end: datetime, n: int = 10) -> pd.DataFrame:
    """user_id, user_email, events; busiest first."""
    return _top_users(_key(db), org, start, end, n, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _top_users(
    db_key: str, org: str, start: datetime, end: datetime, n: int, *, _db: Database
) -> pd.DataFrame:
    return ReadModel(_db, may_lag=True).top_users(org, start, end, n=n)


def top_resources(
    db: Database, org: str, start: datetime, end: datetime, n: int = 10
) -> pd.DataFrame:
    """resource_type, resource_id, events, distinct_users; busiest first."""
    return _top_resources(_key(db), org, start, end, n, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _top_resources(
    db_key: str, org: str, start: datetime, end: datetime, n: int, *, _db: Database
) -> pd.DataFrame:
    return ReadModel(_db, may_lag=True).top_resources(org, start, end, n=n)


def user_heatmap(
    db: Database, org: str, start: datetime, end: datetime, user_id: str, time_zone: str
) -> pd.DataFrame:
    """weekday (ISO, 1 = Monday), hour (in `time_zone`), events: one user's heatmap cells."""
    return _user_heatmap(_key(db), org, start, end, user_id, time_zone, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _user_heatmap(
    db_key: str,
    org: str,
    start: datetime,
    end: datetime,
    user_id: str,
    time_zone: str,
    *,
    _db: Database,
) -> pd.DataFrame:
    return ReadModel(_db, may_lag=True).user_heatmap(org, start, end, user_id, time_zone)


def user_day_features(db: Database, org: str, first: date, last: date) -> pd.DataFrame:
    """One row per (day, user) with the contracted feature columns (inclusive days)."""
    return _user_day_features(_key(db), org, first, last, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _user_day_features(
    db_key: str, org: str, first: date, last: date, *, _db: Database
) -> pd.DataFrame:
    return ReadModel(_db, may_lag=True).user_day_features(org, first, last)
