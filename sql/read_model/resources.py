"""Per-resource reads: accesses per day, who accessed a resource, and the compliance report's
details."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from sql.read_model.frames import Reads, shape
from sql.read_model.keys import either, person_key, same_key
from sql.read_model.ranges import day_params, year_windows
from sql.read_model.raw_part import raw_cte
from sql.read_model.resource_details import ResourceDetails, details_sql, shape_details, type_match


def _resource_filter(
    params: dict[str, Any], resource_type: str | None, resource_id: str | None
) -> list[str]:
    """The conditions on a row's resource: it has one, and the given type and id (bound into
    `params`)."""
    conds = ["resource_id IS NOT NULL"]
    if resource_type is not None:
        params["resource_type"] = str(resource_type)
        conds.append("resource_type = :resource_type")
    if resource_id is not None:
        params["resource_id"] = str(resource_id)
        conds.append("resource_id = :resource_id")
    return conds


class ResourceReads(Reads):
    """Accesses per resource, and who accessed one."""

    def resource_day_access(
        self,
        org: str,
        start_day: Any,
        end_day: Any,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> pd.DataFrame:
        """Accesses and distinct users (people, sql.user_identity) per (UTC day, resource);
        days inclusive."""
        params = day_params(start_day, end_day)
        conds = _resource_filter(params, resource_type, resource_id)
        extra = " AND ".join(conds)
        sql = f"""
WITH {raw_cte(" AND ".join("e." + c for c in conds))}
SELECT day, resource_type, resource_id, sum(events)::bigint AS accesses,
       count(DISTINCT {person_key()}) AS distinct_users
  FROM (
    SELECT day, resource_type, resource_id, user_id, idless_email, events
      FROM org_rollup_user_day_resources
     WHERE day BETWEEN :d0 AND :d1 AND {extra}
    UNION ALL
    SELECT day, resource_type, resource_id, user_id, idless_email, count(*)
      FROM raw GROUP BY 1, 2, 3, 4, 5
  ) r
 GROUP BY day, resource_type, resource_id
 ORDER BY day, resource_type NULLS FIRST, resource_id"""
        frame = self._frame(org, sql, params)
        return shape(
            frame,
            ["day", "resource_type", "resource_id", "accesses", "distinct_users"],
            days=["day"],
        )

    def user_day_resources(
        self,
        org: str,
        start_day: Any,
        end_day: Any,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> pd.DataFrame:
        """Events per (UTC day, user, resource); days inclusive; optionally one resource
        (the compliance question "who accessed X between ... and ..."); in no particular
        order.

        The rollup holds one row per key: its rows are read as they are, joined to the raw
        events' counts per key (both sides of a full join: a key may be in either). No
        aggregate over the rollup's rows (millions for detection's months of an
        organisation), no sort."""
        params = day_params(start_day, end_day)
        conds = _resource_filter(params, resource_type, resource_id)
        key = ["day", "user_id", "resource_type", "resource_id"]
        same = same_key("x", "r", ["day", "resource_id"], ["user_id", "resource_type"])
        # The rollup keeps the people without an id apart (by email): one row per key here.
        where = " AND ".join(conds)
        sql = f"""
WITH {raw_cte(" AND ".join("e." + c for c in conds))},
extra AS MATERIALIZED (
  SELECT day, user_id, resource_type, resource_id, count(*) AS events FROM raw GROUP BY 1, 2, 3, 4
)
SELECT {either(key)}, (coalesce(r.events, 0) + coalesce(x.events, 0))::bigint AS events
  FROM (SELECT day, user_id, resource_type, resource_id, events
          FROM org_rollup_user_day_resources
         WHERE day BETWEEN :d0 AND :d1 AND {where} AND user_id IS NOT NULL
        UNION ALL
        SELECT day, NULL, resource_type, resource_id, sum(events)
          FROM org_rollup_user_day_resources
         WHERE day BETWEEN :d0 AND :d1 AND {where} AND user_id IS NULL
         GROUP BY day, resource_type, resource_id) r
  FULL JOIN extra x ON {same}"""
        frame = self._frame(org, sql, params)
        return shape(
            frame, ["day", "user_id", "resource_type", "resource_id", "events"], days=["day"]
        )

    def resource_users(
        self, org: str, start_day: Any, end_day: Any, resource_type: str | None, resource_id: str
    ) -> pd.DataFrame:
        """Who accessed one resource between two UTC days (inclusive), one row per user:
        `user_id, events, first_day, last_day, active_days`, most events first. The summary of
        the compliance question; the events themselves are one indexed query away."""
        params = day_params(start_day, end_day)
        params.update(resource_id=str(resource_id), resource_type=resource_type)
        match, raw_match = (
            f"{a}resource_id = :resource_id"
            f" AND {a}resource_type IS NOT DISTINCT FROM :resource_type"
            for a in ("", "e.")
        )
        # The rollup holds one row per (day, user) of the resource: each user's figures are
        # one hash aggregate over an index-only range (the rollup's covering index), no
        # sort for count(DISTINCT day). The few raw (day, user) pairs past the watermark add
        # their events, and a day only when the rollup does not already hold it.
        sql = f"""
WITH {raw_cte(raw_match)},
rolled AS (
  -- The events without an id are one user here but several people (rows) a day in the
  -- rollup: grouped per day, each group is one active day.
  SELECT user_id, sum(events) AS events, min(day) AS first_day, max(day) AS last_day,
         CASE WHEN user_id IS NULL THEN 1 ELSE count(*) END AS active_days
    FROM org_rollup_user_day_resources
   WHERE day BETWEEN :d0 AND :d1 AND {match}
   GROUP BY user_id, CASE WHEN user_id IS NULL THEN day END
),
raw_days AS (
  SELECT r.user_id, r.day, count(*) AS events,
         NOT EXISTS (
           SELECT 1 FROM org_rollup_user_day_resources x
            WHERE x.day = r.day AND x.user_id IS NOT DISTINCT FROM r.user_id
              AND x.resource_id = :resource_id
              AND x.resource_type IS NOT DISTINCT FROM :resource_type) AS new_day
    FROM raw r GROUP BY r.user_id, r.day
)
SELECT user_id, sum(events)::bigint AS events, min(first_day) AS first_day,
       max(last_day) AS last_day, sum(active_days)::bigint AS active_days
  FROM (
    SELECT user_id, events, first_day, last_day, active_days FROM rolled
    UNION ALL
    SELECT user_id, events, day, day, new_day::int FROM raw_days
  ) u
 GROUP BY user_id
 ORDER BY events DESC, user_id NULLS LAST"""
        frame = self._frame(org, sql, params)
        frame = shape(
            frame,
            ["user_id", "events", "first_day", "last_day", "active_days"],
            days=["first_day", "last_day"],
        )
        frame["active_days"] = frame["active_days"].astype("int64")
        return frame

    def resource_details(
        self,
        org: str,
        start_day: Any,
        end_day: Any,
        resource_id: str,
        resource_type: str | None = None,
        *,
        any_type: bool = False,
    ) -> ResourceDetails:
        """The compliance report's printable additions for one resource between two UTC days
        (inclusive): accesses by family and action, log records touched and distinct IP
        addresses (overall and per user), each user's distinct actions
        (`sql.read_model.resource_details`). `resource_type` None is the NULL
        type; `any_type=True` takes every type of the id together (a user's figures then
        span its types). One statement; equals aggregating the resource's raw events."""
        params = day_params(start_day, end_day)
        params.update(year_windows(params["d0"], params["d1"] + timedelta(days=1)))
        params["resource_id"] = str(resource_id)
        if resource_type is not None and not any_type:
            params["resource_type"] = str(resource_type)
        types, e_types, x_types = (
            type_match(resource_type, any_type=any_type, alias=a) for a in ("", "e.", "x.")
        )
        raw = raw_cte(f"e.resource_id = :resource_id AND {e_types}", touched=True)
        sql = details_sql(raw, types, x_types)
        return shape_details(self._frame(org, sql, params))
