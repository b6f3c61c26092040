"""Read-side queries of the dashboard that touch the organisation's events directly (small,
indexed probes). Overviews read through the read model (`overview_queries`), findings through
`finding_queries`. Every function takes the organisation: it scopes the query and is part of
every cache key, together with the database URL (so two databases served by one process, as
in tests, never share an entry); `_db` is left out of the key by its underscore.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from sql.gateway import Database
from sql.read_model import ReadModel

# "All time" for the read model: every timestamp an event can carry in practice.
ALL_TIME = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))

TTL_SECONDS = 60


def _key(db: Database) -> str:
    return db.cache_key


def first_event_time(db: Database, org: str) -> datetime | None:
    """The oldest event time of `org` (one index probe), where "All time" starts."""
    return _first_event_time(_key(db), org, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _first_event_time(db_key: str, org: str, *, _db: Database) -> datetime | None:
    with _db.org_session(org, may_lag=True) as session:
        value = session.scalar("SELECT min(event_time) FROM org_audit_events WHERE NOT own_use")
    return value if isinstance(value, datetime) else None


def organization_ids(db: Database) -> list[str]:
    """Organisations known to the store (the viewer's memberships narrow this later)."""
    with db.admin() as session:
        result = session.execute(
            "SELECT organization_id FROM organizations ORDER BY organization_id", max_rows=10_000
        )
    return [row[0] for row in result.rows]


def family_counts(db: Database, org: str) -> dict[str, int]:
    """Events per family of one organisation, largest first (from the read model: rollups
    plus the events past their watermark, never a scan of raw events)."""
    by_family: dict[str, int] = ReadModel(db, may_lag=True).totals(org, *ALL_TIME)["by_family"]
    return by_family
