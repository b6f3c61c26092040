-- Per-year rollups for ranges of many days. Distinct counts cannot be summed from days, so a
-- 90-day overview read every user-day (~500,000 rows at 10 million events) to count users and
-- rank them, and every (user, day) of the top resources to count their users. Here each
-- user has one row per UTC year with its events per day (an array of 366 daily counts), and
-- each (resource, user) one row per year with the days it was accessed (a bit string): any
-- range of days is a slice of one row per user (or pair), however many days it spans.
-- Filled by the same refresh, in the same transaction, as the tables of 0020/0021
-- (`sql/read_model.py`), and recomputed with them by the retention purge.

-- Days are numbered from 0 (January 1st) within their UTC year; day 365 exists in leap years.
CREATE FUNCTION auditlens_day_of_year(day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT day - make_date(extract(year FROM day)::integer, 1, 1)
$$;

-- Element-wise sum of two daily-count arrays (NULL counts as zeros).
CREATE FUNCTION auditlens_add_counts(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

-- True when any of days [first_day, last_day) is set in a 366-bit day set.
CREATE FUNCTION auditlens_any_day(days bit(366), first_day integer, last_day integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT last_day > first_day
     AND position(B'1' IN substring(days FROM first_day + 1 FOR last_day - first_day)) > 0
$$;

-- Events per user and UTC year, one count per day (index 1 = January 1st).
CREATE TABLE rollup_user_years (
  organization_id text     NOT NULL,
  user_id         text,
  year            smallint NOT NULL,
  counts          integer[] NOT NULL CHECK (cardinality(counts) = 366),
  UNIQUE NULLS NOT DISTINCT (organization_id, year, user_id)
);

-- Accesses per resource (resource_id not NULL) and UTC year, one count per day.
CREATE TABLE rollup_resource_years (
  organization_id text     NOT NULL,
  resource_type   text,
  resource_id     text     NOT NULL,
  year            smallint NOT NULL,
  counts          integer[] NOT NULL CHECK (cardinality(counts) = 366),
  UNIQUE NULLS NOT DISTINCT (organization_id, year, resource_type, resource_id)
);

-- The days of each UTC year on which a user accessed a resource (resource_id not NULL).
CREATE TABLE rollup_resource_user_years (
  organization_id text     NOT NULL,
  resource_type   text,
  resource_id     text     NOT NULL,
  user_id         text,
  year            smallint NOT NULL,
  days            bit(366) NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, resource_id, resource_type, year, user_id)
);

-- A few users' emails over a range (the top users) without reading every user-day.
CREATE INDEX rollup_user_days_user ON rollup_user_days (organization_id, user_id, day)
  INCLUDE (user_email);

-- Back-fill from the day rollups under the refresh lock (sql.read_model.REFRESH_LOCK), so a
-- database migrated after refreshes stays exact.
SELECT pg_advisory_xact_lock(1380928588);
INSERT INTO rollup_user_years (organization_id, user_id, year, counts)
SELECT organization_id, user_id, year,
       (SELECT array_agg(coalesce(c.n, 0)::integer ORDER BY g)
          FROM generate_series(0, 365) AS g
          LEFT JOIN unnest(doys, ns) AS c(doy, n) ON c.doy = g)
  FROM (
    SELECT organization_id, user_id, extract(year FROM day)::smallint AS year,
           array_agg(auditlens_day_of_year(day)) AS doys, array_agg(events) AS ns
      FROM rollup_user_days GROUP BY 1, 2, 3
  ) u;
INSERT INTO rollup_resource_years (organization_id, resource_type, resource_id, year, counts)
SELECT organization_id, resource_type, resource_id, year,
       (SELECT array_agg(coalesce(c.n, 0)::integer ORDER BY g)
          FROM generate_series(0, 365) AS g
          LEFT JOIN unnest(doys, ns) AS c(doy, n) ON c.doy = g)
  FROM (
    SELECT organization_id, resource_type, resource_id, extract(year FROM day)::smallint AS year,
           array_agg(auditlens_day_of_year(day)) AS doys, array_agg(accesses) AS ns
      FROM rollup_resource_days GROUP BY 1, 2, 3, 4
  ) r;
INSERT INTO rollup_resource_user_years
  (organization_id, resource_type, resource_id, user_id, year, days)
SELECT organization_id, resource_type, resource_id, user_id, extract(year FROM day)::smallint,
       bit_or(set_bit(repeat('0', 366)::bit(366), auditlens_day_of_year(day), 1))
  FROM rollup_user_day_resources GROUP BY 1, 2, 3, 4, 5;

CREATE VIEW org_rollup_user_years WITH (security_barrier) AS
  SELECT * FROM rollup_user_years WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_resource_years WITH (security_barrier) AS
  SELECT * FROM rollup_resource_years WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_resource_user_years WITH (security_barrier) AS
  SELECT * FROM rollup_resource_user_years WHERE organization_id = auditlens_current_org();
REVOKE ALL ON rollup_user_years, rollup_resource_years, rollup_resource_user_years FROM PUBLIC;
GRANT SELECT ON org_rollup_user_years, org_rollup_resource_years, org_rollup_resource_user_years
  TO auditlens_reader;
GRANT EXECUTE ON FUNCTION auditlens_day_of_year(date),
  auditlens_add_counts(integer[], integer[]),
  auditlens_any_day(bit, integer, integer) TO auditlens_reader, auditlens_writer;
