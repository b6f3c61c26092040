-- Coarser tiers, so the dashboard's 90-day answers read thousands of rows, not one per
-- resource (tens of thousands) with a year of daily counts each:
--
-- * rollup_hour_families: events per hour and family (the hourly timeline as charted: by
--   family), about a quarter of rollup_hour_actions's rows.
-- * rollup_user_months / rollup_resource_months: events per user, accesses per resource, per
--   UTC month, indexed by count: top-N is ranked from the few busiest of each month (a
--   threshold that bounds everyone else, see sql/read_model.py), then made exact per candidate.
-- * rollup_user_day_gaps / rollup_resource_day_gaps: for each UTC day, how many users
--   (resources) were active that day whose previous active day was `prev_day` (NULL: none
--   before). A user is active in days [a, b) exactly when it has a first active day there, i.e.
--   a day d in [a, b) whose previous active day is before a (or none): the distinct count over
--   any range is a sum over ~(days x gap lengths) rows, without touching one row per user.
--
-- Filled by the same refresh, in the same transaction, as the tables of 0020-0024
-- (`sql/read_model.py`), recomputed by the retention purge (read_model.recompute_days), and
-- plain tables on every server flavour (TimescaleDB too: the read model reads rollup tables
-- everywhere).

CREATE TABLE rollup_hour_families (
  organization_id text        NOT NULL,
  bucket          timestamptz NOT NULL,
  event_type      text        NOT NULL,
  events          bigint      NOT NULL,
  PRIMARY KEY (organization_id, bucket, event_type)
);

CREATE TABLE rollup_user_months (
  organization_id text   NOT NULL,
  month           date   NOT NULL,  -- the first day of the UTC month
  user_id         text,
  events          bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, month, user_id)
);
CREATE INDEX rollup_user_months_rank
  ON rollup_user_months (organization_id, month, events DESC) INCLUDE (user_id);

CREATE TABLE rollup_resource_months (
  organization_id text   NOT NULL,
  month           date   NOT NULL,
  resource_type   text,
  resource_id     text   NOT NULL,
  accesses        bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, month, resource_type, resource_id)
);
CREATE INDEX rollup_resource_months_rank
  ON rollup_resource_months (organization_id, month, accesses DESC)
  INCLUDE (resource_type, resource_id);

-- Users with a non-NULL user_id only (distinct users ignore NULL).
CREATE TABLE rollup_user_day_gaps (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  prev_day        date,
  users           bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, day, prev_day)
);

CREATE TABLE rollup_resource_day_gaps (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  prev_day        date,
  resources       bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, day, prev_day)
);

-- One resource's days (gap maintenance; is a resource active in a range).
CREATE INDEX rollup_resource_days_resource
  ON rollup_resource_days (organization_id, resource_id, resource_type, day);

-- Back-fill from the day and hour rollups under the refresh lock (sql.read_model.REFRESH_LOCK),
-- so a database migrated after refreshes stays exact.
SELECT pg_advisory_xact_lock(1380928588);
INSERT INTO rollup_hour_families (organization_id, bucket, event_type, events)
SELECT organization_id, bucket, event_type, sum(events)
  FROM rollup_hour_actions GROUP BY 1, 2, 3;
INSERT INTO rollup_user_months (organization_id, month, user_id, events)
SELECT organization_id, date_trunc('month', day)::date, user_id, sum(events)
  FROM rollup_user_days GROUP BY 1, 2, 3;
INSERT INTO rollup_resource_months (organization_id, month, resource_type, resource_id, accesses)
SELECT organization_id, date_trunc('month', day)::date, resource_type, resource_id, sum(accesses)
  FROM rollup_resource_days GROUP BY 1, 2, 3, 4;
INSERT INTO rollup_user_day_gaps (organization_id, day, prev_day, users)
SELECT organization_id, day, prev_day, count(*)
  FROM (SELECT organization_id, day,
               lag(day) OVER (PARTITION BY organization_id, user_id ORDER BY day) AS prev_day
          FROM rollup_user_days WHERE user_id IS NOT NULL) g
 GROUP BY 1, 2, 3;
INSERT INTO rollup_resource_day_gaps (organization_id, day, prev_day, resources)
SELECT organization_id, day, prev_day, count(*)
  FROM (SELECT organization_id, day,
               lag(day) OVER (PARTITION BY organization_id, resource_type, resource_id
                              ORDER BY day) AS prev_day
          FROM rollup_resource_days) g
 GROUP BY 1, 2, 3;

CREATE VIEW org_rollup_hour_families WITH (security_barrier) AS
  SELECT * FROM rollup_hour_families WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_user_months WITH (security_barrier) AS
  SELECT * FROM rollup_user_months WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_resource_months WITH (security_barrier) AS
  SELECT * FROM rollup_resource_months WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_user_day_gaps WITH (security_barrier) AS
  SELECT * FROM rollup_user_day_gaps WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_resource_day_gaps WITH (security_barrier) AS
  SELECT * FROM rollup_resource_day_gaps WHERE organization_id = auditlens_current_org();
REVOKE ALL ON rollup_hour_families, rollup_user_months, rollup_resource_months,
  rollup_user_day_gaps, rollup_resource_day_gaps FROM PUBLIC;
GRANT SELECT ON org_rollup_hour_families, org_rollup_user_months, org_rollup_resource_months,
  org_rollup_user_day_gaps, org_rollup_resource_day_gaps TO auditlens_reader;
