"""Detection's reads of resources and addresses, aggregated in the database: per user-day the
distinct resources, IPs and user agents and the events on chosen resources; per user the
first day of each resource and of each address. A few hundred thousand rows instead of every
(day, user, resource) row (millions for a large organisation's months)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from sql.read_model.frames import ReadModelError, Reads, shape
from sql.read_model.keys import same_key, user_key
from sql.read_model.ranges import day_params
from sql.read_model.raw_part import raw_cte

# user_day_events_on: the resources of one organisation a rule may call sensitive.
MAX_RESOURCE_IDS = 100_000


def _once_per_resource(row: str) -> str:
    """Whether rollup_user_day_resources row `row` is the one to count for its user, day and
    resource: every row with a user id; of the rows without one (a row per person: by email,
    or none) only the first, so the NULL user counts each resource once."""
    return f"""({row}.user_id IS NOT NULL OR {row}.idless_email IS NULL
             OR NOT EXISTS (
               SELECT 1 FROM org_rollup_user_day_resources y
                WHERE y.day = {row}.day AND y.user_id IS NULL
                  AND y.resource_id = {row}.resource_id
                  AND y.resource_type IS NOT DISTINCT FROM {row}.resource_type
                  AND (y.idless_email IS NULL OR y.idless_email < {row}.idless_email)))"""


class FirstSeenReads(Reads):
    """Distinct counts per user-day; first days per (user, resource) and (user, address)."""

    def user_day_distinct_counts(self, org: str, start_day: Any, end_day: Any) -> pd.DataFrame:
        """`day, user_id, distinct_resources, distinct_ips, distinct_user_agents` per (UTC
        day, user) with events in the days start_day..end_day (inclusive); NULLs are not
        counted (as count(DISTINCT ...)), a NULL user is a row of its own. In no particular
        order. The same counts as `user_day_features`' columns of those names."""
        params = day_params(start_day, end_day)
        # The rollup's rows are distinct resources already: count them, plus the raw events'
        # resources the rollup does not hold for that user-day (its rows of those resources
        # and days found through the resource index: few, whatever the rollup's size).
        same = same_key("r", "x", ["day", "resource_id"], ["user_id", "resource_type"])
        sql = f"""
WITH {raw_cte()},
raw_keys AS MATERIALIZED (
  SELECT DISTINCT day, user_id, resource_type, resource_id FROM raw WHERE resource_id IS NOT NULL
),
rolled AS MATERIALIZED (
  SELECT day, user_id, resource_type, resource_id FROM org_rollup_user_day_resources
   WHERE resource_id = ANY(ARRAY(SELECT DISTINCT resource_id FROM raw_keys))
     AND day = ANY(ARRAY(SELECT DISTINCT day FROM raw_keys))
),
res AS (
  SELECT day, {user_key()} AS ukey, distinct_resources FROM (
  SELECT day, user_id, count(*) AS distinct_resources
    FROM (
      SELECT day, user_id FROM org_rollup_user_day_resources u
       WHERE day BETWEEN :d0 AND :d1 AND {_once_per_resource("u")}
      UNION ALL
      SELECT day, user_id FROM raw_keys x
       WHERE NOT EXISTS (
         SELECT 1 FROM rolled r WHERE {same})
    ) k
   GROUP BY day, user_id
  ) c
),
ips AS (
  SELECT day, user_id, count(DISTINCT ip_address) AS distinct_ips,
         count(DISTINCT user_agent) AS distinct_user_agents
    FROM (
      SELECT day, user_id, ip_address, user_agent FROM org_rollup_user_day_ips
       WHERE day BETWEEN :d0 AND :d1
      UNION ALL
      SELECT day, user_id, ip_address, user_agent FROM raw
    ) i
   GROUP BY day, user_id
)
SELECT i.day, i.user_id, coalesce(r.distinct_resources, 0) AS distinct_resources,
       i.distinct_ips, i.distinct_user_agents
  FROM ips i
  LEFT JOIN res r ON r.day = i.day AND r.ukey = {user_key("i.")}"""
        frame = self._frame(org, sql, params)
        columns = ["day", "user_id", "distinct_resources", "distinct_ips", "distinct_user_agents"]
        return shape(frame, columns, days=["day"])

    def user_resource_first_days(self, org: str, start_day: Any, end_day: Any) -> pd.DataFrame:
        """`user_id, resource_type, resource_id, first_day, events`: one row per user and
        resource with events in the UTC days start_day..end_day (inclusive): the first of
        those days and the events over all of them. A NULL user or type is a key of its
        own; events without a resource are not counted. In no particular order.

        min and sum are exact over the rollup's rows and the raw events past the watermark
        side by side (UNION ALL): a key in both needs no join."""
        params = day_params(start_day, end_day)
        sql = f"""
WITH {raw_cte("e.resource_id IS NOT NULL")}
SELECT user_id, resource_type, resource_id, min(day) AS first_day, sum(events)::bigint AS events
  FROM (
    SELECT user_id, resource_type, resource_id, day, events FROM org_rollup_user_day_resources
     WHERE day BETWEEN :d0 AND :d1
    UNION ALL
    SELECT user_id, resource_type, resource_id, day, 1 FROM raw
  ) r
 GROUP BY user_id, resource_type, resource_id"""
        frame = self._frame(org, sql, params)
        columns = ["user_id", "resource_type", "resource_id", "first_day", "events"]
        return shape(frame, columns, days=["first_day"])

    def user_address_first_days(self, org: str, start_day: Any, end_day: Any) -> pd.DataFrame:
        """`user_id, ip_address, user_agent, first_day`: one row per user, IP address and
        user agent seen in the UTC days start_day..end_day (inclusive), with the first of
        those days. NULLs are keys of their own; IPs as text. In no particular order."""
        params = day_params(start_day, end_day)
        sql = f"""
WITH {raw_cte()}
SELECT user_id, abbrev(ip_address) AS ip_address, user_agent, first_day
  FROM (
    SELECT user_id, ip_address, user_agent, min(day) AS first_day
      FROM (
        SELECT user_id, ip_address, user_agent, day FROM org_rollup_user_day_ips
         WHERE day BETWEEN :d0 AND :d1
        UNION ALL
        SELECT user_id, ip_address, user_agent, day FROM raw
      ) i
     GROUP BY user_id, ip_address, user_agent
  ) f"""
        frame = self._frame(org, sql, params)
        return shape(
            frame, ["user_id", "ip_address", "user_agent", "first_day"], days=["first_day"]
        )

    def user_day_events_on(
        self, org: str, start_day: Any, end_day: Any, resource_ids: Collection[str]
    ) -> pd.DataFrame:
        """`day, user_id, events`: per (UTC day, user), the events on any of `resource_ids`
        (whatever their type); only user-days with such events; in no particular order."""
        if isinstance(resource_ids, str):
            raise ReadModelError(
                "resource_ids must be a collection of resource ids, not one string"
            )
        ids = sorted({str(r) for r in resource_ids})
        if len(ids) > MAX_RESOURCE_IDS:
            raise ReadModelError(
                f"resource_ids: at most {MAX_RESOURCE_IDS:,} resources, got {len(ids):,}"
            )
        if not ids:
            return shape(pd.DataFrame(), ["day", "user_id", "events"], days=["day"])
        params = day_params(start_day, end_day)
        params["resource_ids"] = ids
        chosen = "resource_id = ANY(CAST(:resource_ids AS text[]))"
        sql = f"""
WITH {raw_cte("e." + chosen)}
SELECT day, user_id, sum(events)::bigint AS events
  FROM (
    SELECT day, user_id, events FROM org_rollup_user_day_resources
     WHERE day BETWEEN :d0 AND :d1 AND {chosen}
    UNION ALL
    SELECT day, user_id, 1 FROM raw
  ) r
 GROUP BY day, user_id"""
        frame = self._frame(org, sql, params)
        return shape(frame, ["day", "user_id", "events"], days=["day"])
