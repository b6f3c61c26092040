-- Rollups: counts per hour and per user-day, maintained incrementally behind a watermark over
-- ingest order (ingest_xid), on every server flavour. `sql/read_model.py` fills and reads them;
-- reads union them with the raw events past the watermark, so nothing waits for a refresh.
--
-- Exactly once: a refresh rolls up the events whose ingest_xid lies in
-- [watermark, pg_snapshot_xmin(pg_current_snapshot())). Every transaction below that xmin has
-- ended, so no event can still appear below the new watermark: late events (old event_time)
-- and transactions that commit out of order are counted once, by the refresh after they end.
--
-- user_id, resource_type, ip_address and user_agent may be NULL: the unique keys are
-- NULLS NOT DISTINCT (PostgreSQL 15) so a NULL user is one group, as in GROUP BY.
--
-- People follow sql/user_identity.py: a person is their user_id; an event whose id is
-- missing, empty or only whitespace names its user_email instead, and one with neither is the
-- one unknown person. The rollups store such an id as NULL (one group: the events without an
-- id), and the tables that distinct-person counts read (rollup_user_days and its day gaps,
-- rollup_user_day_resources, rollup_resource_user_years) also key on `idless_email`: the
-- email of an event without an id (NULL when it has an id, or no email), so (user_id,
-- idless_email) is one row per person, and a user id that reads like someone's email stays
-- another person.

CREATE TABLE rollup_state (
  name         text PRIMARY KEY,
  watermark    xid8        NOT NULL,
  refreshed_at timestamptz,
  events_total bigint      NOT NULL DEFAULT 0
);
INSERT INTO rollup_state (name, watermark) VALUES ('events', '0'::xid8);
COMMENT ON TABLE rollup_state IS
  'rollup watermark: events with ingest_xid below it are in the rollup tables, the rest are read raw';

-- Working hours are in the organisation's time zone; weekends (Saturday, Sunday there) are
-- off-hours all day. work_start_hour >= work_end_hour means hours that wrap midnight
-- (e.g. 22 -> 6); equal hours mean the whole weekday is working time.
CREATE FUNCTION auditlens_is_off_hours(local_time timestamp, work_start smallint, work_end smallint)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT extract(isodow FROM local_time) >= 6
      OR CASE WHEN work_start < work_end
              THEN extract(hour FROM local_time) < work_start
                OR extract(hour FROM local_time) >= work_end
              ELSE extract(hour FROM local_time) < work_start
               AND extract(hour FROM local_time) >= work_end
         END
$$;

-- The organisation's time zone if the server knows it, else UTC: a typo in settings must not
-- break every refresh. (pg_timezone_names would answer too, but reads the zone files each time.)
-- PARALLEL UNSAFE: it traps errors (a subtransaction), which PostgreSQL forbids inside a
-- parallel query ("cannot start subtransactions during a parallel operation"); the read model
-- calls it in a statement of its own.
CREATE FUNCTION auditlens_valid_time_zone(tz text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL UNSAFE AS $$
BEGIN
  PERFORM now() AT TIME ZONE tz;
  RETURN tz;
EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
  RETURN 'UTC';
END
$$;

-- A count out of `details` ("records", "results_count", ...): the value under `key` when it is
-- a JSON number between 0 and 10^15 (truncated), else NULL, so hostile text never breaks a
-- refresh. A single expression, so the planner inlines it.
CREATE FUNCTION auditlens_detail_count(details jsonb, key text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(details -> key) = 'number' THEN
           CASE WHEN (details ->> key)::numeric BETWEEN 0 AND 1e15
                THEN trunc((details ->> key)::numeric)::bigint END
         END
$$;

-- Whether `value` names someone: not NULL, and not only whitespace (the characters Python's
-- str.isspace() calls whitespace, as sql/user_identity.py strips them). A single expression,
-- so the planner inlines it.
CREATE FUNCTION auditlens_has_text(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT value IS NOT NULL
     AND btrim(value, U&'\0009\000a\000b\000c\000d\001c\001d\001e\001f\0020\0085\00a0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200a\2028\2029\202f\205f\3000') <> ''
$$;

-- Events per hour, family and action: timelines and totals.
CREATE TABLE rollup_hour_actions (
  organization_id text        NOT NULL,
  bucket          timestamptz NOT NULL,
  event_type      text        NOT NULL,
  event_action    text        NOT NULL,
  events          bigint      NOT NULL,
  PRIMARY KEY (organization_id, bucket, event_type, event_action)
);

-- Events per hour, user and family: heatmaps.
CREATE TABLE rollup_hour_users (
  organization_id text        NOT NULL,
  user_id         text,
  bucket          timestamptz NOT NULL,
  event_type      text        NOT NULL,
  user_email      text,       -- max(user_email) of the group
  events          bigint      NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, user_id, bucket, event_type)
);
-- all users over a time range (user_activity without a user)
CREATE INDEX rollup_hour_users_org_bucket ON rollup_hour_users (organization_id, bucket);

-- Per user and UTC day: the additive features detection needs (distincts are derived from the
-- two tables after this one, because distinct counts cannot be summed).
CREATE TABLE rollup_user_days (
  organization_id   text        NOT NULL,
  day               date        NOT NULL,
  user_id           text,
  idless_email      text,
  user_email        text,
  events            bigint      NOT NULL,
  login             bigint      NOT NULL,
  log_access        bigint      NOT NULL,
  config_change     bigint      NOT NULL,
  user_management   bigint      NOT NULL,
  data_modification bigint      NOT NULL,
  api_call          bigint      NOT NULL,
  searches          bigint      NOT NULL,
  views             bigint      NOT NULL,
  downloads         bigint      NOT NULL,
  exports           bigint      NOT NULL,
  deletions         bigint      NOT NULL,
  off_hours_events  bigint      NOT NULL,
  records_exported  bigint      NOT NULL,
  max_results_count bigint,
  first_event       timestamptz NOT NULL,
  last_event        timestamptz NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, day, user_id, idless_email)
);

-- Per user, day and resource (resource_id not NULL): distinct resources per user-day, distinct
-- users per resource-day, first-seen resources for detection, the quarter access report.
CREATE TABLE rollup_user_day_resources (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  user_id         text,
  idless_email    text,
  resource_type   text,
  resource_id     text   NOT NULL,
  events          bigint NOT NULL,
  -- Log records touched: the compliance report's own measure (see auditlens_records_touched).
  touched         numeric NOT NULL DEFAULT 0,
  UNIQUE NULLS NOT DISTINCT (organization_id, day, user_id, idless_email, resource_type,
                             resource_id)
);
-- "Who accessed resource X" (ReadModel.resource_users, the Compliance page) aggregates every
-- (day, user) row of the resource: with user_id and events in the index it reads them from
-- the index alone (the refresh's VACUUM keeps the visibility map set), no heap page per row:
-- about half the time for the busiest source at 10M events.
CREATE INDEX rollup_user_day_resources_resource
  ON rollup_user_day_resources (organization_id, resource_id, resource_type, day)
  INCLUDE (user_id, idless_email, events);

-- Per user, day, IP address and user agent: distinct IPs and agents, first-seen IPs/devices.
CREATE TABLE rollup_user_day_ips (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  user_id         text,
  ip_address      inet,
  user_agent      text,
  events          bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, day, user_id, ip_address, user_agent)
);

-- Per resource and day: accesses, for top resources without touching user granularity.
CREATE TABLE rollup_resource_days (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  resource_type   text,
  resource_id     text   NOT NULL,
  accesses        bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, day, resource_type, resource_id)
);

-- Readers see one organisation through security-barrier views, never the base tables.
CREATE VIEW org_rollup_hour_actions WITH (security_barrier) AS
  SELECT * FROM rollup_hour_actions WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_hour_users WITH (security_barrier) AS
  SELECT * FROM rollup_hour_users WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_user_days WITH (security_barrier) AS
  SELECT * FROM rollup_user_days WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_user_day_resources WITH (security_barrier) AS
  SELECT * FROM rollup_user_day_resources WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_user_day_ips WITH (security_barrier) AS
  SELECT * FROM rollup_user_day_ips WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_resource_days WITH (security_barrier) AS
  SELECT * FROM rollup_resource_days WHERE organization_id = auditlens_current_org();

REVOKE ALL ON rollup_hour_actions, rollup_hour_users, rollup_user_days,
  rollup_user_day_resources, rollup_user_day_ips, rollup_resource_days, rollup_state FROM PUBLIC;
GRANT SELECT ON org_rollup_hour_actions, org_rollup_hour_users, org_rollup_user_days,
  org_rollup_user_day_resources, org_rollup_user_day_ips, org_rollup_resource_days
  TO auditlens_reader;
-- The watermark holds no audit data: readers need it to know which raw events to add.
GRANT SELECT ON rollup_state TO auditlens_reader;
GRANT EXECUTE ON FUNCTION auditlens_valid_time_zone(text),
  auditlens_is_off_hours(timestamp, smallint, smallint),
  auditlens_detail_count(jsonb, text), auditlens_has_text(text)
  TO auditlens_reader, auditlens_writer;

-- Events per UTC day, family and action: 90-day timelines and overview totals read about 24
-- times fewer rows than from the hourly table. Filled by the same refresh as the tables above
-- (`sql/read_model.py`), in the same transaction as the hourly table, so the two always agree.
CREATE TABLE rollup_day_actions (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  event_type      text   NOT NULL,
  event_action    text   NOT NULL,
  events          bigint NOT NULL,
  PRIMARY KEY (organization_id, day, event_type, event_action)
);
CREATE VIEW org_rollup_day_actions WITH (security_barrier) AS
  SELECT * FROM rollup_day_actions WHERE organization_id = auditlens_current_org();
REVOKE ALL ON rollup_day_actions FROM PUBLIC;
GRANT SELECT ON org_rollup_day_actions TO auditlens_reader;

-- No TimescaleDB continuous aggregates, on any flavour: they could not give the rollups'
-- exact answers, and an aggregate nothing reads would be work done twice. A real-time
-- aggregate (materialized_only = false) adds raw rows only above its own watermark, the end of
-- its last refreshed bucket; a late event (an old event_time, inserted after that refresh) is
-- missing from its bucket until the next refresh, where the rollups count it at once (raw past
-- the ingest-order watermark). Refreshing after every batch would only narrow that window:
-- refresh_continuous_aggregate cannot run inside the ingest transaction, and it refuses a
-- concurrent refresh of the same aggregate instead of waiting. Distinct users over a range of
-- days cannot be summed from daily buckets (the rollups keep per-year and day-gap tables for
-- that), and off-hours need each organisation's time zone and working hours, whose change an
-- aggregate joined to `organizations` would not notice any more than the rollups do. So the
-- hierarchy (hour, day, month, year) is the rollup tables', maintained once by one refresh, on
-- every flavour.
--
-- TimescaleDB with the Timescale license: compression of raw chunks (segmented by
-- organisation, so one organisation's reads never decompress another's; ordered by user, so
-- one user's events of a chunk sit in one or two batches: a user's day or drill-down then
-- decompresses those, where batches laid out by time each hold most active users and every
-- batch of the day was decompressed). Optional: a server
-- that refuses it keeps uncompressed chunks and says why in the migration log; nothing else
-- depends on it. No TimescaleDB background policy compresses: its jobs run as the table owner,
-- and auditlens_owner is NOLOGIN by design (add_compression_policy refuses such owners), so
-- AuditLens's own refresh (`auditlens refresh`, after ingest batches, RefreshTimer) does it.
DO $timescale$
BEGIN
  IF current_setting('auditlens.capability') <> 'timescale_full' THEN
    RETURN;
  END IF;
  BEGIN
    EXECUTE $c$
      ALTER TABLE audit_events SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'organization_id',
        timescaledb.compress_orderby = 'user_id, event_time DESC',
        -- Per batch of compressed events: min and max of what the refresh, sealing and the
        -- retention purge select by (ranges), bloom filters of what reads look up (equality).
        -- The order's columns get their min and max by themselves.
        timescaledb.sparse_index = 'minmax(ingest_xid), minmax(ingest_seq),
          minmax(retention_guaranteed_until), bloom(id), bloom(resource_id),
          bloom(session_id), bloom(ip_address), bloom(event_action), bloom(event_type)'
      )
    $c$;
    -- Each new batch table copies the compressed hypertable's grants, which TimescaleDB
    -- copied from audit_events: only TimescaleDB's compression may write batches, whoever
    -- compresses (see audit_protect_chunks).
    EXECUTE (SELECT format('REVOKE INSERT ON %I.%I FROM auditlens_writer',
                           z.schema_name, z.table_name)
               FROM _timescaledb_catalog.hypertable h
               JOIN _timescaledb_catalog.hypertable z ON z.id = h.compressed_hypertable_id
              WHERE h.schema_name = 'public' AND h.table_name = 'audit_events');
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'AuditLens: audit_events compression not enabled: %', SQLERRM;
  END;
END
$timescale$;

-- Per-year rollups for ranges of many days. Distinct counts cannot be summed from days, so a
-- 90-day overview read every user-day (~500,000 rows at 10 million events) to count users and
-- rank them, and every (user, day) of the top resources to count their users. Here each
-- user has one row per UTC year with its events per day (an array of 366 daily counts), and
-- each (resource, user) one row per year with the days it was accessed (a bit string): any
-- range of days is a slice of one row per user (or pair), however many days it spans.
-- Filled by the same refresh, in the same transaction, as the tables above
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
  idless_email    text,
  year            smallint NOT NULL,
  days            bit(366) NOT NULL
);
-- Top resources counts the distinct users of each winner from rollup_resource_user_years:
-- every (user, year) row of the resource with its day bitmap (~3,600 rows for each of the 10
-- busiest sources at 10M events). Those rows lie scattered over the heap (a refresh adds them
-- in whatever order its delta groups), so the read fetched one heap page per row (~37,000 page
-- visits for the 10 winners). Its unique key is a unique index that also carries the bitmap
-- (INCLUDE): an index-only scan reads each winner's rows side by side (~1 ms a winner instead
-- of ~5); the refresh's ON CONFLICT names the key columns. An update of `days` is not HOT
-- (the index holds it), a small cost on a table of ~130,000 rows.
CREATE UNIQUE INDEX rollup_resource_user_years_key
  ON rollup_resource_user_years (organization_id, resource_id, resource_type, year, user_id,
                                 idless_email)
  INCLUDE (days) NULLS NOT DISTINCT;

-- A few users' emails over a range (the top users) without reading every user-day.
CREATE INDEX rollup_user_days_user ON rollup_user_days (organization_id, user_id, day)
  INCLUDE (user_email);

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
-- Filled by the same refresh, in the same transaction, as the tables above
-- (`sql/read_model.py`), recomputed by the retention purge (read_model.recompute_days), and
-- plain tables on every server flavour.

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

-- Every person counts: the unknown one (no id, no email) too, as in the access report.
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

-- The time span of the session organisation's events past the rollup watermark, for the read
-- model (sql/read_model.py): its first statement reads this, and its main statement, in the
-- same REPEATABLE READ snapshot, reads raw events past the watermark only inside the span, so
-- the planner prunes every partition outside it (and the read skips raw events past the
-- watermark altogether when there are none). Planning that branch over every partition of
-- the range and their indexes was most of a small read's cost (~3-5 ms of ~7-10 ms).
--
-- plpgsql, so the query's plan is cached per connection; a generic plan (it has no
-- parameters worth a custom plan: the watermark is a subquery) over every partition's
-- ingest_xid index. enable_seqscan off: a generic plan cannot see how few events are past
-- the watermark. OFFSET 0 keeps the planner from turning min/max into ordered scans of an
-- event_time index that stop at the first match: with nothing past the watermark, such a scan
-- would read the organisation's every event.
-- SECURITY INVOKER through org_audit_events: the caller's organisation scope applies.
CREATE FUNCTION auditlens_past_watermark_span(OUT first_time timestamptz,
                                              OUT last_time timestamptz)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
BEGIN
  SELECT min(p.t), max(p.t) INTO first_time, last_time
    FROM (SELECT e.event_time AS t FROM org_audit_events e
           WHERE e.ingest_xid >= (SELECT watermark FROM rollup_state WHERE name = 'events')
          OFFSET 0) p;
END
$$;

REVOKE ALL ON FUNCTION auditlens_past_watermark_span() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_past_watermark_span() TO auditlens_reader;

-- TimescaleDB with compression: only events below the watermark are ever compressed
-- (audit_compress_chunks), so the span reads the chunks' uncompressed rows alone, through
-- their ingest_xid indexes: reading the compressed batches' metadata too would scan every
-- batch of the organisation in every read, a cost that grows with the data kept.
DO $span$
BEGIN
  IF current_setting('auditlens.capability') = 'timescale_full' THEN
    ALTER FUNCTION auditlens_past_watermark_span() SET timescaledb.enable_columnarscan = off;
  END IF;
END
$span$;

-- The busiest k rows of one UTC month of the month totals, for the session's
-- organisation, in the order of their rank indexes: top-N's candidates (sql/read_model.py,
-- `_ranking`) read k index entries per month instead of every row of the month.
--
-- Why functions and not the org_rollup_*_months views: a security_barrier view is planned as
-- a subquery of its own, so an outer ORDER BY ... LIMIT cannot use the view's index order, and
-- the planner read and sorted every row of each month (~20,000 resources a month at 10M
-- events: ~20 ms a month through the view, ~0.1 ms on the table). SECURITY DEFINER to read the
-- table, with exactly the views' guard: only rows of auditlens_current_org(), which the
-- reader's own session sets (sql/gateway.py org_session); nothing without an organisation.
CREATE FUNCTION auditlens_top_user_months(month date, k integer)
RETURNS TABLE (user_id text, events bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.user_id, m.events FROM rollup_user_months m
   WHERE m.organization_id = auditlens_current_org() AND m.month = $1
   ORDER BY m.events DESC LIMIT $2
$$;

CREATE FUNCTION auditlens_top_resource_months(month date, k integer)
RETURNS TABLE (resource_type text, resource_id text, accesses bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.resource_type, m.resource_id, m.accesses FROM rollup_resource_months m
   WHERE m.organization_id = auditlens_current_org() AND m.month = $1
   ORDER BY m.accesses DESC LIMIT $2
$$;

REVOKE ALL ON FUNCTION auditlens_top_user_months(date, integer),
  auditlens_top_resource_months(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_top_user_months(date, integer),
  auditlens_top_resource_months(date, integer) TO auditlens_reader;

-- The compliance report's printable additions from the read model: for one resource
-- over a range of UTC days, the accesses by family and action, the log records touched
-- (overall and per user), the distinct IP addresses (overall and per user) and each user's
-- distinct actions. Before, every download aggregated all of the resource's raw events
-- three times (~14 s for the busiest source at 10 million events).
--
-- * rollup_user_day_resources.touched: log records touched per (day, user, resource).
-- * rollup_resource_day_actions: accesses per (resource, day, family, action).
-- * rollup_resource_user_action_years / rollup_resource_user_ip_years: per (resource, user,
--   action) and (resource, user, IP address) and UTC year, the days it occurred, as
--   rollup_resource_user_years: any range of days is one row per (user, action) or (user, IP),
--   not one per user-day. IP rows only for events that carry an address (distinct IP counts
--   ignore NULL).
--
-- "Log records touched" is the report's own measure, not the read model's records_exported:
-- the first of the details keys results_count, resultsCount, record_count, recordCount,
-- records_count that holds a JSON number in [0, 10^15] (truncated; see
-- auditlens_detail_count), on every event of the resource (a search's results, an export's
-- records). Sums are numeric: hostile counts can never overflow a refresh.
--
-- Filled by the same refresh, in the same transaction, as the tables above
-- (`sql/read_model.py`), recomputed by the retention purge, plain tables on every flavour.

CREATE FUNCTION auditlens_records_touched(details jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(auditlens_detail_count(details, 'results_count'),
                  auditlens_detail_count(details, 'resultsCount'),
                  auditlens_detail_count(details, 'record_count'),
                  auditlens_detail_count(details, 'recordCount'),
                  auditlens_detail_count(details, 'records_count'))
$$;

CREATE TABLE rollup_resource_day_actions (
  organization_id text   NOT NULL,
  resource_type   text,
  resource_id     text   NOT NULL,
  day             date   NOT NULL,
  event_type      text   NOT NULL,
  event_action    text   NOT NULL,
  events          bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, resource_id, resource_type, day, event_type,
                             event_action)
);

CREATE TABLE rollup_resource_user_action_years (
  organization_id text     NOT NULL,
  resource_type   text,
  resource_id     text     NOT NULL,
  user_id         text,
  year            smallint NOT NULL,
  event_action    text     NOT NULL,
  days            bit(366) NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, resource_id, resource_type, year, user_id,
                             event_action)
);

CREATE TABLE rollup_resource_user_ip_years (
  organization_id text     NOT NULL,
  resource_type   text,
  resource_id     text     NOT NULL,
  user_id         text,
  year            smallint NOT NULL,
  ip_address      inet     NOT NULL,
  days            bit(366) NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, resource_id, resource_type, year, user_id,
                             ip_address)
);

CREATE VIEW org_rollup_resource_day_actions WITH (security_barrier) AS
  SELECT * FROM rollup_resource_day_actions WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_resource_user_action_years WITH (security_barrier) AS
  SELECT * FROM rollup_resource_user_action_years
   WHERE organization_id = auditlens_current_org();
CREATE VIEW org_rollup_resource_user_ip_years WITH (security_barrier) AS
  SELECT * FROM rollup_resource_user_ip_years WHERE organization_id = auditlens_current_org();
REVOKE ALL ON rollup_resource_day_actions, rollup_resource_user_action_years,
  rollup_resource_user_ip_years FROM PUBLIC;
GRANT SELECT ON org_rollup_resource_day_actions, org_rollup_resource_user_action_years,
  org_rollup_resource_user_ip_years TO auditlens_reader;
GRANT EXECUTE ON FUNCTION auditlens_records_touched(jsonb) TO auditlens_reader, auditlens_writer;

-- Rollup rows are updated in place by every refresh (INSERT ... ON CONFLICT DO UPDATE), which
-- clears their pages' all-visible bits; reads that should be index-only (top resources'
-- day bitmaps, resource_users' covering index) then visit the heap again until a VACUUM.
-- The refresh vacuums after large batches only, and autovacuum's defaults wait for 20% of a
-- table to change: top resources measured ~50 ms right after a VACUUM, ~110 ms after a small
-- refresh at 10M events. Vacuum these tables after a thousand changed or inserted rows.
DO $$
DECLARE
  t text;
BEGIN
  FOR t IN
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'rollup\_%'
       AND c.relname <> 'rollup_state'
  LOOP
    EXECUTE format(
      'ALTER TABLE %I SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,'
      ' autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000)',
      t);
  END LOOP;
END
$$;
