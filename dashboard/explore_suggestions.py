"""What Explore's filter widgets offer: the families, actions, users, resource types,
resources and addresses that occur in the organisation's own events (its newest
SAMPLE_EVENTS, most frequent first), never a fixed list. Anything else can still be typed."""

from __future__ import annotations

import streamlit as st

from sql.gateway import Database

SAMPLE_EVENTS = 50_000
PER_FIELD = 200
TTL_SECONDS = 300
# Widget field -> the column its values come from (fixed names, never from input).
_COLUMNS = {
    "families": "event_type",
    "actions": "event_action",
    "users": "coalesce(user_email, user_id)",
    "resource_types": "resource_type",
    "resources": "resource_id",
    "ips": "host(ip_address)",
}
# Column expressions come from the fixed _COLUMNS table; every value is bound.
_PER_FIELD_SQL = " UNION ALL ".join(
    f"(SELECT '{field}', v, n FROM"  # noqa: S608
    f" (SELECT {column} AS v, count(*) AS n FROM recent"
    f" WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :per_field) {field})"
    for field, column in _COLUMNS.items()
)
_SQL = (
    "WITH recent AS MATERIALIZED ("  # noqa: S608
    " SELECT event_type, event_action, user_email, user_id, resource_type, resource_id,"
    " ip_address FROM org_audit_events WHERE own_use = :own"
    " ORDER BY event_time DESC LIMIT :sample) " + _PER_FIELD_SQL
)


def suggestions(db: Database, org: str, *, own_use: bool = False) -> dict[str, list[str]]:
    """Each widget field's values present in `org`'s stream, most frequent first."""
    return _suggestions(db.cache_key, org, own_use, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _suggestions(db_key: str, org: str, own_use: bool, *, _db: Database) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {field: [] for field in _COLUMNS}
    with _db.org_session(org, may_lag=True) as session:
        rows = session.execute(
            _SQL,
            {"own": own_use, "sample": SAMPLE_EVENTS, "per_field": PER_FIELD},
            max_rows=PER_FIELD * len(_COLUMNS),
        ).rows
    for field, value, _count in rows:
        out[str(field)].append(str(value))
    return out
