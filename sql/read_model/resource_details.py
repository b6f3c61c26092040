"""The compliance report's printable additions for one resource over whole UTC days:
accesses by family and action, log records touched (overall and per user), distinct IP
addresses (overall and per user) and each user's distinct actions, equal to aggregating the
resource's raw events (see `ReadModel.resource_details`, which builds the raw part and the
parameters). The rollup tables behind it are in `sql.rollup.tables`; "log records touched" is
defined in `sql.rollup.measures`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from sql.read_model.keys import user_key
from sql.read_model.ranges import WINDOWS


def type_match(resource_type: str | None, *, any_type: bool, alias: str = "") -> str:
    """The condition on `resource_type` (bound as :resource_type when a type is given)."""
    if any_type:
        return "true"
    if resource_type is None:
        return f"{alias}resource_type IS NULL"
    return f"{alias}resource_type = :resource_type"


def details_sql(raw_cte: str, types: str, x_types: str) -> str:
    """The read: `raw_cte` (the resource's raw events the rollups do not hold, with `touched`),
    `types`/`x_types` the type condition bare and on alias `x.`. One statement, rows by
    `kind`: 'action' (event_type, event_action, events), 'user' (user_id, actions, touched,
    ips) and one 'ips' (the distinct addresses)."""
    match = f"resource_id = :resource_id AND {types}"
    x_match = f"x.resource_id = :resource_id AND {x_types}"
    in_window = "x.year = ANY(CAST(:wy AS smallint[])) AND auditlens_any_day(x.days, w.a, w.b)"
    return f"""
WITH {raw_cte},{WINDOWS},
actions AS (
  SELECT event_type, event_action, sum(events) AS events
    FROM (
      SELECT event_type, event_action, events FROM org_rollup_resource_day_actions
       WHERE {match} AND day BETWEEN :d0 AND :d1
      UNION ALL
      SELECT event_type, event_action, count(*) FROM raw GROUP BY 1, 2
    ) a
   GROUP BY 1, 2
),
users AS (
  SELECT user_id, coalesce(sum(touched), 0) AS touched
    FROM (
      SELECT user_id, touched FROM org_rollup_user_day_resources
       WHERE {match} AND day BETWEEN :d0 AND :d1
      UNION ALL
      SELECT user_id, sum(touched) FROM raw GROUP BY 1
    ) u
   GROUP BY 1
),
user_actions AS (
  SELECT user_id, string_agg(event_action, ', ' ORDER BY event_action) AS actions
    FROM (
      SELECT x.user_id, x.event_action FROM org_rollup_resource_user_action_years x
        JOIN w ON w.year = x.year WHERE {x_match} AND {in_window}
      UNION
      SELECT user_id, event_action FROM raw
    ) a
   GROUP BY 1
),
user_ips AS MATERIALIZED (
  SELECT x.user_id, x.ip_address FROM org_rollup_resource_user_ip_years x
    JOIN w ON w.year = x.year WHERE {x_match} AND {in_window}
  UNION
  SELECT user_id, ip_address FROM raw WHERE ip_address IS NOT NULL
),
ips_by_user AS (
  SELECT user_id,
         string_agg(DISTINCT host(ip_address), ', ' ORDER BY host(ip_address)) AS ips
    FROM user_ips GROUP BY 1
)
SELECT 'action' AS kind, event_type AS a, event_action AS b, CAST(events AS numeric) AS n,
       NULL AS c
  FROM actions
UNION ALL
SELECT 'user', u.user_id, a.actions, u.touched, i.ips
  FROM users u
  LEFT JOIN user_actions a ON {user_key("a.")} = {user_key("u.")}
  LEFT JOIN ips_by_user i ON {user_key("i.")} = {user_key("u.")}
UNION ALL
SELECT 'ips', NULL, NULL, (SELECT count(DISTINCT ip_address) FROM user_ips), NULL"""


@dataclass(frozen=True)
class ResourceDetails:
    """The printable report's additions for one resource and range of days.

    `by_action`: event_type, event_action, events (most first, then by type and action).
    `by_user`: user_id, actions (distinct, sorted, ", "-joined), records (log records
    touched), ip_addresses (distinct hosts, sorted, ", "-joined; None when none); one row per
    user (NULL user included) with any event. `records` and `ip_addresses`: the totals."""

    by_action: pd.DataFrame
    by_user: pd.DataFrame
    records: int
    ip_addresses: int


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | Decimal) else int(value or 0)


def shape_details(frame: pd.DataFrame) -> ResourceDetails:
    """The read's rows (`details_sql`) as a ResourceDetails."""
    rows = list(frame.itertuples(index=False, name=None))
    actions = sorted(
        ((a, b, _int(n)) for kind, a, b, n, _ in rows if kind == "action"),
        key=lambda r: (-r[2], r[0], r[1]),
    )
    users = [
        (a, b, _int(n), c if isinstance(c, str) else None)
        for kind, a, b, n, c in rows
        if kind == "user"
    ]
    by_action = pd.DataFrame(actions, columns=["event_type", "event_action", "events"])
    by_action["events"] = by_action["events"].astype("int64")
    by_user = pd.DataFrame(users, columns=["user_id", "actions", "records", "ip_addresses"])
    by_user["records"] = by_user["records"].astype("int64")
    ips = next((_int(n) for kind, _, _, n, _ in rows if kind == "ips"), 0)
    return ResourceDetails(
        by_action=by_action,
        by_user=by_user,
        records=int(by_user["records"].sum()),
        ip_addresses=ips,
    )
