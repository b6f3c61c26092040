"""Reads of counts over time: the timeline, per-user activity and heatmap, and the totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from sql.gateway import ScopedSession
from sql.read_model.frames import ReadModelError, Reads, epoch_us, shape
from sql.read_model.keys import RAW_HAS_ID
from sql.read_model.ranges import check_time_zone, range_params, tier_params
from sql.read_model.raw_part import raw_cte


def _tiered_actions(fam: str = "") -> str:
    """Counts per (hour or day) bucket, family and action over the tiers of `tier_params`;
    `fam`: " AND " and a condition on the family, or ""."""
    return f"""
    SELECT (day::timestamp AT TIME ZONE 'UTC') AS bucket, event_type, event_action, events
      FROM org_rollup_day_actions WHERE day >= :dd0 AND day < :dd1{fam}
    UNION ALL
    SELECT bucket, event_type, event_action, events FROM org_rollup_hour_actions
     WHERE bucket >= :a0 AND bucket < :d0{fam}
    UNION ALL
    SELECT bucket, event_type, event_action, events FROM org_rollup_hour_actions
     WHERE bucket >= :d1 AND bucket < :a1{fam}
    UNION ALL
    SELECT bucket, event_type, event_action, count(*) FROM raw GROUP BY 1, 2, 3"""


class ActivityReads(Reads):
    """Counts over time: events per bucket, per user and hour, per weekday and hour."""

    def timeline(
        self,
        org: str,
        start: Any,
        end: Any,
        bucket: str = "hour",
        families: Sequence[str] | None = None,
        by_action: bool = True,
    ) -> pd.DataFrame:
        """Events per time bucket ('hour' or 'day', UTC), family and action; per bucket and
        family only (no event_action column) with `by_action=False`, as the chart stacks them:
        by the hour that reads the hourly family rollup, a quarter of the rows."""
        if bucket not in ("hour", "day"):
            raise ReadModelError(f"bucket must be 'hour' or 'day', got: {bucket!r}")
        params = (
            range_params(start, end, timedelta(hours=1))
            if bucket == "hour"
            else tier_params(start, end)
        )
        fam = ""
        if families is not None:
            params["families"] = [str(f) for f in families]
            fam = "event_type = ANY(:families)"
        where_fam = f" AND {fam}" if fam else ""
        if bucket == "hour" and not by_action:
            outer = "bucket"
            source = f"""
    SELECT bucket, event_type, NULL AS event_action, events FROM org_rollup_hour_families
     WHERE bucket >= :a0 AND bucket < :a1{where_fam}
    UNION ALL
    SELECT bucket, event_type, NULL, count(*) FROM raw GROUP BY 1, 2"""
        elif bucket == "hour":
            outer = "bucket"
            source = f"""
    SELECT bucket, event_type, event_action, events FROM org_rollup_hour_actions
     WHERE bucket >= :a0 AND bucket < :a1{where_fam}
    UNION ALL
    SELECT bucket, event_type, event_action, count(*) FROM raw GROUP BY 1, 2, 3"""
        else:
            outer = "date_trunc('day', bucket, 'UTC')"
            source = _tiered_actions(where_fam)
        keys = ["event_type", "event_action"] if by_action else ["event_type"]
        cols = ", ".join(keys)
        # One row per series (family, action) with its buckets (epoch seconds: whole hours or
        # days, exact in float8's date_part) and counts as unordered arrays: tens of thousands
        # of (hour, series) cells cross the driver as a few dozen rows, and neither side sorts
        # or merges them in SQL; pandas sums a bucket the rollups and raw events both hold.
        sql = f"""
WITH {raw_cte("e." + fam if fam else "")}
SELECT {cols}, array_agg(CAST(date_part('epoch', {outer}) AS bigint)) AS buckets,
       array_agg(events) AS counts
  FROM ({source}
  ) u
 GROUP BY {cols}"""
        packed = self._frame(org, sql, params)
        columns = ["bucket", *keys, "events"]
        if packed.empty:
            return shape(packed, columns, times=["bucket"])
        lengths = packed["buckets"].map(len).to_numpy()
        if lengths.sum() > self.max_rows:
            raise ReadModelError(
                f"the answer has more than {self.max_rows:,} rows: narrow the time range"
            )
        cells = pd.DataFrame(
            {
                "bucket": np.concatenate([np.asarray(b, dtype="int64") for b in packed["buckets"]]),
                **{k: np.repeat(packed[k].to_numpy(), lengths) for k in keys},
                "events": np.concatenate([np.asarray(c, dtype="int64") for c in packed["counts"]]),
            }
        )
        frame = pd.DataFrame(
            cells.groupby(["bucket", *keys], sort=True, as_index=False)["events"].sum()
        )
        frame["bucket"] = pd.to_datetime(frame["bucket"], unit="s", utc=True)
        return shape(frame, columns, times=["bucket"])

    def user_activity(
        self, org: str, start: Any, end: Any, user_id: str | None = None
    ) -> pd.DataFrame:
        """Events per hour (UTC), user and family; one user's when `user_id` is given."""
        params = range_params(start, end, timedelta(hours=1))
        filt = ""
        if user_id is not None:
            params["user_id"] = str(user_id)
            filt = "user_id = :user_id"
        and_filt = f" AND {filt}" if filt else ""
        sql = f"""
WITH {raw_cte(f"e.{filt} AND {RAW_HAS_ID}" if filt else "")}
SELECT {epoch_us("bucket")} AS bucket, user_id, max(user_email) AS user_email, event_type,
       sum(events)::bigint AS events
  FROM (
    SELECT bucket, user_id, user_email, event_type, events FROM org_rollup_hour_users
     WHERE bucket >= :a0 AND bucket < :a1{and_filt}
    UNION ALL
    SELECT bucket, user_id, max(user_email), event_type, count(*) FROM raw GROUP BY 1, 2, 4
  ) u
 GROUP BY u.bucket, user_id, event_type
 ORDER BY u.bucket, user_id NULLS LAST, event_type"""
        frame = self._frame(org, sql, params)
        return shape(
            frame, ["bucket", "user_id", "user_email", "event_type", "events"], times=["bucket"]
        )

    def user_hours(
        self, org: str, start: Any, end: Any, *, user_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """`user_id, hour, events`: every user's events per UTC hour of day (0-23) in
        [start, end), summed in SQL (detection's hourly profiles: at most 24 rows a user).
        With `user_ids`, only those users (a NULL user is never one)."""
        params = range_params(start, end, timedelta(hours=1))
        users = "user_id IS NOT NULL"
        if user_ids is not None:
            if isinstance(user_ids, str):
                raise ReadModelError("user_ids must be a sequence of user ids, not one string")
            params["users"] = sorted({str(u) for u in user_ids})
            users = "user_id = ANY(CAST(:users AS text[]))"
        sql = f"""
WITH {raw_cte(f"e.{users} AND {RAW_HAS_ID}")}
SELECT user_id, CAST(extract(hour FROM bucket AT TIME ZONE 'UTC') AS integer) AS hour,
       sum(events)::bigint AS events
  FROM (
    SELECT bucket, user_id, events FROM org_rollup_hour_users
     WHERE bucket >= :a0 AND bucket < :a1 AND {users}
    UNION ALL
    SELECT bucket, user_id, 1 FROM raw
  ) u
 GROUP BY 1, 2
 ORDER BY 1, 2"""
        return shape(self._frame(org, sql, params), ["user_id", "hour", "events"])

    def user_heatmap(
        self, org: str, start: Any, end: Any, user_id: str, time_zone: str
    ) -> pd.DataFrame:
        """One user's events in [start, end) by ISO weekday (1 = Monday .. 7 = Sunday) and
        hour of day in `time_zone` (an IANA name): at most 7 x 24 rows, the cells with
        events, aggregated in SQL. The hour rule of the Users page and its drill-down
        (dashboard/user_events.py): the UTC hour bucket an event falls in, shifted whole into
        the zone (with a +05:30 zone, the local hour that bucket starts in)."""
        params = range_params(start, end, timedelta(hours=1))
        params.update(user_id=str(user_id), tz=check_time_zone(time_zone))
        sql = f"""
WITH {raw_cte(f"e.user_id = :user_id AND {RAW_HAS_ID}")}
SELECT CAST(extract(isodow FROM l) AS integer) AS weekday,
       CAST(extract(hour FROM l) AS integer) AS hour, sum(events)::bigint AS events
  FROM (
    SELECT bucket AT TIME ZONE CAST(:tz AS text) AS l, events
      FROM (
        SELECT bucket, events FROM org_rollup_hour_users
         WHERE user_id = :user_id AND bucket >= :a0 AND bucket < :a1
        UNION ALL
        SELECT bucket, 1 FROM raw
      ) b
  ) c
 GROUP BY 1, 2
 ORDER BY 1, 2"""
        frame = self._frame(org, sql, params)
        return shape(frame, ["weekday", "hour", "events"])

    def event_count(
        self,
        org: str,
        start: Any,
        end: Any,
        *,
        families: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
        session: ScopedSession | None = None,
    ) -> int:
        """Events in [start, end), of `families` and `actions` when given: the exact count,
        from the rollups and the raw events they do not hold. In `session` (a snapshot of
        the caller's for `org`) when given, so it agrees with the caller's other reads."""
        params = tier_params(start, end)
        conditions = []
        for name, column, values in (
            ("families", "event_type", families),
            ("actions", "event_action", actions),
        ):
            if values is not None:
                if isinstance(values, str):
                    raise ReadModelError(f"{name} must be a sequence of names, not one string")
                params[name] = [str(v) for v in values]
                conditions.append(f"{column} = ANY(CAST(:{name} AS text[]))")
        where = " AND ".join(conditions)
        sql = f"""
WITH {raw_cte(" AND ".join("e." + c for c in conditions))}
SELECT coalesce(sum(events), 0)::bigint AS events
  FROM ({_tiered_actions(f" AND {where}" if where else "")}
  ) u"""
        frame = self._frame(org, sql, params, session=session)
        return int(frame["events"].iloc[0])

    def totals(self, org: str, start: Any, end: Any) -> dict[str, Any]:
        """Events, distinct users (people, sql.user_identity: the unknown one too), distinct
        resources and events per family in [start, end)."""
        hour = tier_params(start, end)
        day = range_params(start, end, timedelta(days=1))
        params = {**hour, **{f"d{k}": v for k, v in day.items()}}
        day_raw = raw_cte(name="draw", p="d", org=False)
        # Distinct users (resources) of the whole days [dda, ddb): those with a first active
        # day there (the day gaps), plus the raw part's that have no rolled-up day there
        # (one index probe each: OFFSET 0 keeps the planner from hashing every user-day).
        in_days = "u.day >= :dda AND u.day < :ddb"
        sql = f"""
WITH {raw_cte()},
{day_raw}
SELECT 'family' AS kind, event_type AS name, sum(events)::bigint AS n
  FROM ({_tiered_actions()}
  ) f GROUP BY event_type
UNION ALL
SELECT 'users', NULL,
       (SELECT coalesce(sum(g.users), 0) FROM org_rollup_user_day_gaps g
         WHERE g.day >= :dda AND g.day < :ddb AND (g.prev_day IS NULL OR g.prev_day < :dda))
     + (SELECT count(*) FROM (SELECT DISTINCT user_id, idless_email FROM draw) d
         WHERE NOT CASE WHEN d.user_id IS NULL
                   THEN EXISTS (SELECT 1 FROM org_rollup_user_days u
                                 WHERE u.user_id IS NULL
                                   AND u.idless_email IS NOT DISTINCT FROM d.idless_email
                                   AND {in_days} OFFSET 0)
                   ELSE EXISTS (SELECT 1 FROM org_rollup_user_days u
                                 WHERE u.user_id = d.user_id AND {in_days} OFFSET 0)
                   END)
UNION ALL
SELECT 'resources', NULL,
       (SELECT coalesce(sum(g.resources), 0) FROM org_rollup_resource_day_gaps g
         WHERE g.day >= :dda AND g.day < :ddb AND (g.prev_day IS NULL OR g.prev_day < :dda))
     + (SELECT count(*)
          FROM (SELECT DISTINCT resource_type, resource_id FROM draw
                 WHERE resource_id IS NOT NULL) d
         WHERE NOT CASE WHEN d.resource_type IS NULL
                   THEN EXISTS (SELECT 1 FROM org_rollup_resource_days u
                                 WHERE u.resource_id = d.resource_id
                                   AND u.resource_type IS NULL AND {in_days})
                   ELSE EXISTS (SELECT 1 FROM org_rollup_resource_days u
                                 WHERE u.resource_id = d.resource_id
                                   AND u.resource_type = d.resource_type AND {in_days})
                   END)"""
        frame = self._frame(org, sql, params)
        by_family: dict[str, int] = {}
        users = resources = 0
        for kind, name, n in frame.itertuples(index=False):
            if kind == "family":
                by_family[str(name)] = int(n)
            elif kind == "users":
                users = int(n)
            else:
                resources = int(n)
        by_family = dict(sorted(by_family.items(), key=lambda kv: (-kv[1], kv[0])))
        return {
            "events": sum(by_family.values()),
            "users": users,
            "resources": resources,
            "by_family": by_family,
        }
