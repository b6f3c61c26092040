"""Raw events behind a heatmap selection: one user's events in chosen weekday/hour cells of a
time zone. The search syntax has no "Mondays at 14h", so this drill-down lists them here,
paged and scoped to the organisation, with the same hour rule as the heatmap (the UTC hour
bucket an event falls in, shifted into the zone)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from dashboard.user_patterns import WEEKDAYS
from sql.gateway import Database
from sql.read_model import check_time_zone

PAGE_SIZE = 100
_COLUMNS = (
    "event_time",
    "event_type",
    "event_action",
    "resource_type",
    "resource_id",
    "ip_address",
    "session_id",
    "id",
)
_SQL = """
SELECT event_time, event_type, event_action, resource_type, resource_id,
       host(ip_address) AS ip_address, session_id, id
  FROM org_audit_events
 WHERE NOT own_use AND user_id = :user_id AND event_time >= :start AND event_time < :end
   AND (extract(isodow FROM date_trunc('hour', event_time, 'UTC') AT TIME ZONE :tz) * 100
        + extract(hour FROM date_trunc('hour', event_time, 'UTC') AT TIME ZONE :tz))::int
       = ANY(:cells)
 ORDER BY event_time DESC, id DESC
 LIMIT :limit OFFSET :offset
"""


def events_in_cells(
    db: Database,
    org: str,
    user_id: str,
    start: datetime,
    end: datetime,
    time_zone: str,
    cells: Sequence[tuple[str, int]],
    *,
    page: int = 0,
) -> pd.DataFrame:
    """One page (newest first) of `user_id`'s events in the (weekday, hour) `cells`."""
    codes = [(WEEKDAYS.index(day) + 1) * 100 + int(hour) for day, hour in cells]
    if not codes:
        return pd.DataFrame(columns=list(_COLUMNS))
    params = {
        "user_id": user_id,
        "start": start,
        "end": end,
        "tz": check_time_zone(time_zone),
        "cells": codes,
        "limit": PAGE_SIZE,
        "offset": max(page, 0) * PAGE_SIZE,
    }
    with db.org_session(org, may_lag=True) as session:
        return session.frame(_SQL, params, max_rows=PAGE_SIZE)
