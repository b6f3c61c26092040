"""Per (UTC day, user) reads: detection's features, each user's email on a day, and the IP
addresses and user agents."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pandas as pd

from sql.read_model.frames import ReadModelError, Reads, epoch_us, shape
from sql.read_model.keys import RAW_HAS_ID, either, same_key, user_key
from sql.read_model.ranges import day, day_params
from sql.read_model.raw_part import raw_cte
from sql.rollup.measures import (
    ADDITIVE,
    FAMILIES,
    FEATURE_COLUMNS,
    USER_DAY_AGG,
    USER_DAY_MEASURES,
    add_up,
    keep_greatest,
    keep_least,
)

# user_emails: every user of a busy resource's report (thousands).
MAX_EMAIL_USERS = 100_000
# user_day_features(user_ids=...): a page's worth of users (the Users page shows 30).
MAX_FEATURE_USERS = 500
# Up to this many days, a user filter probes the rollups' (organisation, day, user) keys one
# (day, user) pair at a time instead of reading every user's rows of the period.
_PROBED_DAYS = 400


def _user_day_filter(params: dict[str, Any], user_ids: Sequence[str] | None) -> tuple[str, str]:
    """The rollup tables' condition and the raw events' one for user_day_features; adds the
    parameters it binds to `params`."""
    if user_ids is None:
        return "day BETWEEN :d0 AND :d1", ""
    if isinstance(user_ids, str):
        raise ReadModelError("user_ids must be a sequence of user ids, not one string")
    users = sorted({str(u) for u in user_ids})
    if len(users) > MAX_FEATURE_USERS:
        raise ReadModelError(f"user_ids: at most {MAX_FEATURE_USERS} users, got {len(users)}")
    params["users"] = users
    count = (params["d1"] - params["d0"]).days + 1
    if count <= _PROBED_DAYS:
        params["days"] = [params["d0"] + timedelta(days=n) for n in range(count)]
        days = "day = ANY(CAST(:days AS date[]))"
    else:
        days = "day BETWEEN :d0 AND :d1"
    users_match = "user_id = ANY(CAST(:users AS text[]))"
    return f"{days} AND {users_match}", f"e.{users_match} AND {RAW_HAS_ID}"


def _combined() -> str:
    """Each user-day measure of a full join's rollup row `r` and raw row `x` (either may be
    missing): summed, or the greatest or least of the two (which skip a NULL)."""
    terms = []
    for m in USER_DAY_MEASURES:
        if m.combine == add_up:
            terms.append(f"coalesce(r.{m.column}, 0) + coalesce(x.{m.column}, 0) AS {m.column}")
        elif m.combine == keep_greatest:
            terms.append(f"greatest(r.{m.column}, x.{m.column}) AS {m.column}")
        elif m.combine == keep_least:
            terms.append(f"least(r.{m.column}, x.{m.column}) AS {m.column}")
        else:
            raise ValueError(f"no full-join combination for {m.column}")
    return ", ".join(terms)


def _rolled_user_days(days: str) -> str:
    """The rollup's user-days matching `days`, one row per (day, user_id): the rollup keeps
    the people without a user id apart (by email), here they are the NULL user's day, each
    measure combined as the refresh would (their rows are few, read by the user index)."""
    columns = ", ".join(m.column for m in USER_DAY_MEASURES)
    combined: dict[Callable[[str], str], str] = {
        add_up: "sum",
        keep_greatest: "max",
        keep_least: "min",
    }
    merged = ", ".join(
        f"{combined[m.combine]}({m.column}){'::bigint' if m.combine == add_up else ''}"
        for m in USER_DAY_MEASURES
    )
    return f"""SELECT day, user_id, {columns} FROM org_rollup_user_days
          WHERE {days} AND user_id IS NOT NULL
         UNION ALL
         SELECT day, NULL, {merged} FROM org_rollup_user_days
          WHERE {days} AND user_id IS NULL GROUP BY day"""


class UserDayReads(Reads):
    """Per (UTC day, user): features, emails, addresses."""

    def user_day_features(
        self,
        org: str,
        start_day: Any,
        end_day: Any,
        *,
        user_ids: Sequence[str] | None = None,
        distinct_counts: bool = True,
    ) -> pd.DataFrame:
        """One row per (UTC day, user) with detection's features; days inclusive. With
        `user_ids`, only those users (at most MAX_FEATURE_USERS; a NULL user is never one).
        `distinct_counts=False` leaves distinct_resources, distinct_ips and
        distinct_user_agents at 0, for a caller that counts them from `user_day_resources`
        and `user_day_ips` (detection reads those anyway: counting twice costs most of this
        read)."""
        params = day_params(start_day, end_day)
        days, raw_users = _user_day_filter(params, user_ids)
        rollup_cols = ", ".join(f"{c}::bigint AS {c}" for c in ADDITIVE)
        distinct = f"""res AS (
  SELECT day, {user_key()} AS ukey, count(*) AS distinct_resources
    FROM (
      SELECT day, user_id, resource_type, resource_id FROM org_rollup_user_day_resources
       WHERE {days}
      UNION
      SELECT day, user_id, resource_type, resource_id FROM raw WHERE resource_id IS NOT NULL
    ) r GROUP BY day, ukey
),
ips AS (
  SELECT day, {user_key()} AS ukey, count(DISTINCT ip_address) AS distinct_ips,
         count(DISTINCT user_agent) AS distinct_user_agents
    FROM (
      SELECT day, user_id, ip_address, user_agent FROM org_rollup_user_day_ips
       WHERE {days}
      UNION ALL
      SELECT day, user_id, ip_address, user_agent FROM raw
    ) i GROUP BY day, ukey
)"""
        # Relations without rows of the same shape: the joins below stay as they are.
        no_distinct = """res AS (SELECT NULL::date AS day, NULL::text AS ukey,
  0::bigint AS distinct_resources WHERE false),
ips AS (SELECT NULL::date AS day, NULL::text AS ukey, 0::bigint AS distinct_ips,
  0::bigint AS distinct_user_agents WHERE false)"""
        # The rollup holds one row per (day, user): its rows fully joined to the raw events'
        # per (day, user), each measure combined as the refresh would; no aggregate over
        # every rolled-up row (hundreds of thousands for detection).
        sql = f"""
WITH {raw_cte(raw_users, measures=True)},
extra AS MATERIALIZED (
  SELECT day, user_id, {USER_DAY_AGG}
    FROM raw GROUP BY day, user_id
),
joined AS (
  SELECT {either(["day", "user_id"])}, {_combined()}
    FROM ({_rolled_user_days(days)}) r
    FULL JOIN extra x ON {same_key("x", "r", ["day"], ["user_id"])}
),
feat AS (
  SELECT day, user_id, {user_key()} AS ukey, user_email, {rollup_cols},
         coalesce(max_results_count, 0)::bigint AS max_results_count, first_event, last_event
    FROM joined
),
{distinct if distinct_counts else no_distinct}
SELECT f.day, f.user_id, f.user_email, f.events,
       {", ".join(f"f.{c}" for c in FAMILIES)},
       f.searches, f.views, f.downloads, f.exports, f.deletions,
       coalesce(r.distinct_resources, 0) AS distinct_resources,
       coalesce(i.distinct_ips, 0) AS distinct_ips,
       coalesce(i.distinct_user_agents, 0) AS distinct_user_agents,
       f.off_hours_events, f.records_exported, f.max_results_count,
       {epoch_us("f.first_event")} AS first_event, {epoch_us("f.last_event")} AS last_event
  FROM feat f
  LEFT JOIN res r ON r.day = f.day AND r.ukey = f.ukey
  LEFT JOIN ips i ON i.day = f.day AND i.ukey = f.ukey
 ORDER BY f.day, f.user_id NULLS LAST"""
        frame = self._frame(org, sql, params)
        return shape(
            frame, list(FEATURE_COLUMNS), times=["first_event", "last_event"], days=["day"]
        )

    def user_emails(self, org: str, user_days: Mapping[str, Any]) -> pd.DataFrame:
        """`user_id, user_email`: each user's email on one UTC day (`user_days` maps a user id
        to that day; the largest email the user's events carry that day, NULL when none or
        no events). One index probe per user: the email next to a per-user summary (the
        compliance report's "who accessed it", at each user's last access day)."""
        if len(user_days) > MAX_EMAIL_USERS:
            raise ReadModelError(
                f"user_days: at most {MAX_EMAIL_USERS:,} users, got {len(user_days):,}"
            )
        users = [str(u) for u in user_days]
        days = [day(d, "user_days") for d in user_days.values()]
        if not users:
            return shape(pd.DataFrame(), ["user_id", "user_email"])
        params = day_params(min(days), max(days))
        params.update(users=users, days=days)
        sql = f"""
WITH {raw_cte(f"e.user_id = ANY(CAST(:users AS text[])) AND {RAW_HAS_ID}")}
SELECT u.user_id,
       (SELECT max(q.user_email) FROM (
          SELECT d.user_email FROM org_rollup_user_days d
           WHERE d.user_id = u.user_id AND d.day = u.day
          UNION ALL
          SELECT r.user_email FROM raw r WHERE r.user_id = u.user_id AND r.day = u.day
        ) q) AS user_email
  FROM unnest(CAST(:users AS text[]), CAST(:days AS date[])) AS u(user_id, day)
 ORDER BY u.user_id"""
        frame = self._frame(org, sql, params)
        return shape(frame, ["user_id", "user_email"])

    def user_day_ips(self, org: str, start_day: Any, end_day: Any) -> pd.DataFrame:
        """Events per (UTC day, user, IP address, user agent); days inclusive; IPs as text; in
        no particular order. Read like `user_day_resources`: the rollup's rows as they are,
        fully joined to the raw events' counts per key."""
        params = day_params(start_day, end_day)
        key = ["day", "user_id", "ip_address", "user_agent"]
        same = same_key("x", "r", ["day"], ["user_id", "ip_address", "user_agent"])
        sql = f"""
WITH {raw_cte()},
extra AS MATERIALIZED (
  SELECT day, user_id, ip_address, user_agent, count(*) AS events FROM raw GROUP BY 1, 2, 3, 4
)
SELECT day, user_id, abbrev(ip_address) AS ip_address, user_agent, events
  FROM (
    SELECT {either(key)}, (coalesce(r.events, 0) + coalesce(x.events, 0))::bigint AS events
      FROM (SELECT day, user_id, ip_address, user_agent, events FROM org_rollup_user_day_ips
             WHERE day BETWEEN :d0 AND :d1) r
      FULL JOIN extra x ON {same}
  ) k"""
        frame = self._frame(org, sql, params)
        return shape(frame, ["day", "user_id", "ip_address", "user_agent", "events"], days=["day"])
