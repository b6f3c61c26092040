"""Top-N reads: the busiest users and resources of a range, ranked exactly from a few
candidates when a bound proves it, else from every key."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from sql.read_model.frames import Reads, limit, shape
from sql.read_model.keys import person_key, resource_key, user_key
from sql.read_model.ranges import WINDOWS, range_params, year_windows
from sql.read_model.raw_part import raw_cte

# Top-N candidates: the busiest RANK_DEPTH rows of every month the range touches, with
# RANK_DEPTH = max(RANK_DEPTH_MIN, RANK_DEPTH_PER_ROW * n) (module constants, so tests can
# force the threshold to fail and the exhaustive ranking to answer).
RANK_DEPTH_MIN = 100
RANK_DEPTH_PER_ROW = 10

# Events of a year-table row `y` in its window `w`.
_YEAR_EVENTS = "(SELECT coalesce(sum(x), 0) FROM unnest(y.counts[w.a + 1 : w.b]) AS x)"


def _rank_params(first: date, end: date, n: int) -> dict[str, Any]:
    return {"n": n, "k": max(RANK_DEPTH_MIN, RANK_DEPTH_PER_ROW * n), "rda": first, "rdb": end}


def _candidate_events(years: str, keys: list[str], nullable: str) -> str:
    """The events of candidate `c` in the whole days: the window slices of its rows of the
    year table `years` (keyed by `keys`). Its `nullable` key matches with IS NULL or `=`, so
    each branch is an index condition; so are the years (year = ANY)."""

    def events(match: str) -> str:
        exact = [f"y.{k} = c.{k}" for k in keys if k != nullable]
        return f"""(SELECT coalesce(sum({_YEAR_EVENTS}), 0) FROM {years} y
                      JOIN w ON w.year = y.year
                     WHERE y.year = ANY(CAST(:wy AS smallint[]))
                       AND {" AND ".join([*exact, match])})"""

    null, same = f"y.{nullable} IS NULL", f"y.{nullable} = c.{nullable}"
    return f"CASE WHEN c.{nullable} IS NULL THEN {events(null)} ELSE {events(same)} END"


def _rank_all(years: str, keys: list[str], order: str) -> str:
    """The exact top :n over every key: all rows of the year table `years`, plus `rawc`."""
    cols = ", ".join(keys)
    y_cols = ", ".join(f"y.{k}" for k in keys)
    return f"""
  SELECT {cols}, sum(events)::bigint AS events
    FROM (
      SELECT {y_cols}, {_YEAR_EVENTS} AS events
        FROM {years} y JOIN w ON w.year = y.year
      UNION ALL
      SELECT {cols}, n FROM rawc
    ) u
   GROUP BY {cols} HAVING sum(events) > 0
   ORDER BY events DESC, {order}
   LIMIT :n"""


def _ranking(
    *,
    months: str,
    value: str,
    years: str,
    keys: list[str],
    nullable: str,
    join: str,
    order: str,
) -> str:
    """CTEs ending in `ranked`: the exact top :n of the whole days [:rda, :rdb) plus `rawc`
    (counts of the raw part per key, column n), ranked from a few candidates when a bound
    proves it, else by every key.

    Candidates: the :k busiest rows of each month that the days touch (`months`: a SQL
    function over a month table, which reads them in its rank index's order), and every key
    of the raw part. Any other key has at most the :k-th count of each such month there (0 in
    a month with fewer rows; at most a month's count in the range, nothing raw), so at most
    `tau`, their sum: when the n-th candidate, counted exactly (from the year table `years`,
    over `c`), has more than tau, or tau is 0, the candidates' top n is the answer.
    Otherwise the ranking over every key runs (a one-time filter: only then)."""
    cols = ", ".join(keys)
    x_cols = ", ".join(f"x.{k}" for k in keys)
    c_cols = ", ".join(f"c.{k}" for k in keys)
    return f"""
mo AS (
  SELECT CAST(m AS date) AS month
    FROM (SELECT CAST(date_trunc('month', min(day)) AS date) AS lo, max(day) AS hi
            FROM org_rollup_day_actions) x,
         generate_series(greatest(x.lo, CAST(date_trunc('month', CAST(:rda AS date)) AS date)),
                         least(x.hi, CAST(:rdb AS date) - 1), INTERVAL '1 month') m
   WHERE x.lo IS NOT NULL AND CAST(:rda AS date) < CAST(:rdb AS date)
),
best AS MATERIALIZED (
  SELECT mo.month, b.* FROM mo CROSS JOIN LATERAL (
    SELECT {x_cols}, x.{value} AS v FROM {months}(mo.month, CAST(:k AS integer)) x
  ) b
),
bound AS (
  SELECT coalesce(sum(kth), 0) AS tau
    FROM (SELECT min(v) AS kth FROM best GROUP BY month HAVING count(*) = :k) m
),
cand AS (SELECT {cols} FROM best UNION SELECT {cols} FROM rawc),
exact AS MATERIALIZED (
  SELECT {c_cols},
         CAST({_candidate_events(years, keys, nullable)} + coalesce(rawc.n, 0) AS bigint) AS events
    FROM cand c LEFT JOIN rawc ON {join}
),
top AS (
  SELECT {cols}, events FROM exact WHERE events > 0 ORDER BY events DESC, {order} LIMIT :n
),
verdict AS (
  SELECT (SELECT tau FROM bound) = 0
      OR ((SELECT count(*) FROM top) = :n
          AND (SELECT min(events) FROM top) > (SELECT tau FROM bound)) AS fast
),
ranked AS (
  SELECT {cols}, events FROM top WHERE (SELECT fast FROM verdict)
  UNION ALL
  SELECT * FROM ({_rank_all(years, keys, order)}
  ) a WHERE NOT (SELECT fast FROM verdict)
)"""


def _user_has_rolled_up_day(row: str, earlier: str = "") -> str:
    """Whether the resource-user year rows hold row `row`'s (resource, user) on a day of the
    window (`earlier`: narrows the years). Probes the whole key, year by year (LATERAL and
    OFFSET 0: one probe a row and year, not a scan of every row of the resource)."""

    def active(type_match: str, user_match: str) -> str:
        return f"""EXISTS (SELECT 1 FROM w CROSS JOIN LATERAL (
                  SELECT p.days FROM org_rollup_resource_user_years p
                   WHERE p.year = w.year AND p.resource_id = {row}.resource_id AND {type_match}
                     AND {user_match} OFFSET 0) p
                 WHERE auditlens_any_day(p.days, w.a, w.b){earlier})"""

    null_type, same_type = "p.resource_type IS NULL", f"p.resource_type = {row}.resource_type"
    # A person without a user id is their email (or the lack of one), sql.user_identity.
    null_user = f"p.user_id IS NULL AND p.idless_email IS NOT DISTINCT FROM {row}.idless_email"
    same_user = f"p.user_id = {row}.user_id"
    return f"""CASE WHEN {row}.resource_type IS NULL AND {row}.user_id IS NULL
                 THEN {active(null_type, null_user)}
                 WHEN {row}.resource_type IS NULL THEN {active(null_type, same_user)}
                 WHEN {row}.user_id IS NULL THEN {active(same_type, null_user)}
                 ELSE {active(same_type, same_user)} END"""


class RankingReads(Reads):
    """The busiest users and resources of a range."""

    def top_users(
        self, org: str, start: Any, end: Any, n: int = 10, family: str | None = None
    ) -> pd.DataFrame:
        """The `n` users with most events (of `family`, when given) in [start, end)."""
        n = limit(n)
        if family is not None:
            # Per family from the hourly user rollup (it keeps each family's own emails).
            params = range_params(start, end, timedelta(hours=1))
            params.update(n=n, family=str(family))
            sql = f"""
WITH {raw_cte("e.event_type = :family")}
SELECT user_id, max(user_email) AS user_email, sum(events)::bigint AS events
  FROM (
    SELECT user_id, user_email, events FROM org_rollup_hour_users
     WHERE bucket >= :a0 AND bucket < :a1 AND event_type = :family
    UNION ALL
    SELECT user_id, max(user_email), count(*) FROM raw GROUP BY 1
  ) u
 GROUP BY user_id
 ORDER BY events DESC, user_id NULLS LAST
 LIMIT :n"""
        else:
            params = range_params(start, end, timedelta(days=1))
            params.update(_rank_params(params["da"], params["db"], n))
            params.update(year_windows(params["da"], params["db"]))
            ranking = _ranking(
                months="auditlens_top_user_months",
                value="events",
                years="org_rollup_user_years",
                keys=["user_id"],
                nullable="user_id",
                join=f"rawc.ukey = {user_key('c.')}",
                order="user_id NULLS LAST",
            )
            sql = f"""
WITH {raw_cte()},{WINDOWS},
rawc AS (SELECT user_id, {user_key()} AS ukey, count(*) AS n FROM raw GROUP BY user_id),
{ranking}
SELECT t.user_id,
       (SELECT max(q.email) FROM (
          SELECT d.user_email AS email FROM org_rollup_user_days d
           WHERE d.user_id = t.user_id AND d.day >= :da AND d.day < :db
          UNION ALL
          SELECT d.user_email FROM org_rollup_user_days d
           WHERE d.user_id IS NULL AND t.user_id IS NULL AND d.day >= :da AND d.day < :db
          UNION ALL
          SELECT r.user_email FROM raw r WHERE r.user_id IS NOT DISTINCT FROM t.user_id
        ) q) AS user_email,
       t.events
  FROM ranked t
 ORDER BY t.events DESC, t.user_id NULLS LAST"""
        frame = self._frame(org, sql, params)
        return shape(frame, ["user_id", "user_email", "events"])

    def top_resources(
        self, org: str, start: Any, end: Any, n: int = 10, *, distinct_users: bool = True
    ) -> pd.DataFrame:
        """The `n` resources with most events in [start, end), with their distinct users
        unless `distinct_users=False` (then without that column: counting a popular source's
        users over weeks reads many rollup rows, which a ranking by events does not need)."""
        params = range_params(start, end, timedelta(days=1))
        params.update(_rank_params(params["da"], params["db"], limit(n)))
        params.update(year_windows(params["da"], params["db"]))
        ranking = _ranking(
            months="auditlens_top_resource_months",
            value="accesses",
            years="org_rollup_resource_years",
            keys=["resource_type", "resource_id"],
            nullable="resource_type",
            join=f"rawc.resource_id = c.resource_id AND rawc.rkey = {resource_key('c.')}",
            order="resource_type NULLS FIRST, resource_id",
        )
        sql = f"""
WITH {raw_cte("e.resource_id IS NOT NULL")},{WINDOWS},
rawc AS (
  SELECT resource_type, resource_id, {resource_key()} AS rkey, count(*) AS n
    FROM raw GROUP BY resource_type, resource_id
),
{ranking}"""
        if not distinct_users:
            sql += """
SELECT resource_type, resource_id, events FROM ranked
 ORDER BY events DESC, resource_type NULLS FIRST, resource_id"""
            frame = self._frame(org, sql, params)
            return shape(frame, ["resource_type", "resource_id", "events"])
        # Distinct users (people, sql.user_identity) without a DISTINCT over each winner's
        # ~thousands of rows: a person has one row per year, so the rollup's people are its
        # rows active in the window (the first such year's, when the window spans years),
        # plus the raw part's people that have none.
        earlier_year = _user_has_rolled_up_day("x", " AND w.year < x.year")
        sql += f"""
SELECT t.resource_type, t.resource_id, t.events,
       (SELECT count(*) FROM org_rollup_resource_user_years x JOIN w ON w.year = x.year
         WHERE x.resource_id = t.resource_id
           AND x.resource_type IS NOT DISTINCT FROM t.resource_type
           AND auditlens_any_day(x.days, w.a, w.b)
           AND (cardinality(CAST(:wy AS smallint[])) = 1
                OR NOT {earlier_year}))
     + (SELECT count(DISTINCT {person_key("r.")}) FROM raw r
         WHERE r.resource_id = t.resource_id
           AND r.resource_type IS NOT DISTINCT FROM t.resource_type
           AND NOT {_user_has_rolled_up_day("r")})
       AS distinct_users
  FROM ranked t
 ORDER BY t.events DESC, t.resource_type NULLS FIRST, t.resource_id"""
        frame = self._frame(org, sql, params)
        return shape(frame, ["resource_type", "resource_id", "events", "distinct_users"])
