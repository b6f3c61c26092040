"""Resources as pages show them: the display name with the id beside it
(`Payment logs — source_payment_logs`), from the organisation's catalogue.

Cached per database, organisation and TTL_SECONDS; `forget` clears it after a catalogue
change made on this dashboard. Labels are plain text: show them where text is not Markdown
(option lists, tables) or through `markdown_text.md`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from sql.catalogue import entries
from sql.gateway import Database
from usecases.resource_catalogue import Known, known_resources, label

TTL_SECONDS = 60


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _names(db_key: str, org: str, *, _db: Database) -> dict[str, str]:
    return {rid: e.display_name for rid, e in entries(_db, org).items() if e.display_name}


def resource_label(db: Database, org: str) -> Callable[[object], str]:
    """A function giving a resource id's label (the id alone when it has no display name)."""
    names = _names(db.url, org, _db=db)
    return lambda rid: label(str(rid), names.get(str(rid)))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _known(db_key: str, org: str, first: date, last: date, *, _db: Database) -> list[Known]:
    return known_resources(_db, org, _utc(first), _utc(last + timedelta(days=1)))


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def known_for_days(db: Database, org: str, first: date, last: date) -> list[Known]:
    """Resources described in the catalogue or with events on the UTC days [first, last]."""
    return _known(db.url, org, first, last, _db=db)


def forget() -> None:
    """Drop the cached names and lists (after this dashboard changed the catalogue)."""
    _names.clear()
    _known.clear()
