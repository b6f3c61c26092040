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
CREATE FUNCTION auditlens_valid_time_zone(tz text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
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
  UNIQUE NULLS NOT DISTINCT (organization_id, day, user_id)
);

-- Per user, day and resource (resource_id not NULL): distinct resources per user-day, distinct
-- users per resource-day, first-seen resources for detection, the quarter access report.
CREATE TABLE rollup_user_day_resources (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  user_id         text,
  resource_type   text,
  resource_id     text   NOT NULL,
  events          bigint NOT NULL,
  UNIQUE NULLS NOT DISTINCT (organization_id, day, user_id, resource_type, resource_id)
);
CREATE INDEX rollup_user_day_resources_resource
  ON rollup_user_day_resources (organization_id, resource_id, resource_type, day);

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
  auditlens_detail_count(jsonb, text) TO auditlens_reader, auditlens_writer;
