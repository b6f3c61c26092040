-- The compliance report's printable additions from the read model (issue 7): for one resource
-- over a range of UTC days, the accesses by family and action, the log records touched
-- (overall and per user), the distinct IP addresses (overall and per user) and each user's
-- distinct actions. Before, every download aggregated all of the resource's raw events
-- three times (~14 s for the busiest source at 10 million events).
--
-- * rollup_user_day_resources.touched: log records touched per (day, user, resource).
-- * rollup_resource_day_actions: accesses per (resource, day, family, action).
-- * rollup_resource_user_action_years / rollup_resource_user_ip_years: per (resource, user,
--   action) and (resource, user, IP address) and UTC year, the days it occurred, as 0024's
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
-- Filled by the same refresh, in the same transaction, as the tables of 0020-0025
-- (`sql/read_model.py`), recomputed by the retention purge, plain tables on every flavour.
-- Back-filled here from the raw events below the watermark, under the refresh lock, so a
-- database migrated after refreshes (a kept 10-million-event database) stays exact; on
-- TimescaleDB the same statements read compressed chunks too.

CREATE FUNCTION auditlens_records_touched(details jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(auditlens_detail_count(details, 'results_count'),
                  auditlens_detail_count(details, 'resultsCount'),
                  auditlens_detail_count(details, 'record_count'),
                  auditlens_detail_count(details, 'recordCount'),
                  auditlens_detail_count(details, 'records_count'))
$$;

ALTER TABLE rollup_user_day_resources ADD COLUMN touched numeric NOT NULL DEFAULT 0;

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

-- Back-fill: one pass over the raw events of resources below the watermark, grouped at the
-- finest grain the four need (in memory: ~5 million groups at 10 million events), then each
-- table from that. rollup_user_day_resources holds exactly these events' counts, so it is
-- refilled from the same groups with `touched` (a compact table, where updating every row
-- would leave a dead copy of each; 0044's ADD COLUMN locks the table until commit anyway).
SELECT pg_advisory_xact_lock(1380928588);
SET LOCAL work_mem = '1GB';
CREATE TEMP TABLE rollup_details_fill ON COMMIT DROP AS
SELECT organization_id, resource_type, resource_id, (event_time AT TIME ZONE 'UTC')::date AS day,
       user_id, event_type, event_action, ip_address, count(*) AS events,
       coalesce(sum(auditlens_records_touched(details)), 0) AS touched
  FROM audit_events
 WHERE resource_id IS NOT NULL
   AND ingest_xid < (SELECT watermark FROM rollup_state WHERE name = 'events')
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
ANALYZE rollup_details_fill;

TRUNCATE rollup_user_day_resources;
INSERT INTO rollup_user_day_resources
  (organization_id, day, user_id, resource_type, resource_id, events, touched)
SELECT organization_id, day, user_id, resource_type, resource_id, sum(events), sum(touched)
  FROM rollup_details_fill GROUP BY 1, 2, 3, 4, 5;

INSERT INTO rollup_resource_day_actions
  (organization_id, resource_type, resource_id, day, event_type, event_action, events)
SELECT organization_id, resource_type, resource_id, day, event_type, event_action, sum(events)
  FROM rollup_details_fill GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO rollup_resource_user_action_years
  (organization_id, resource_type, resource_id, user_id, year, event_action, days)
SELECT organization_id, resource_type, resource_id, user_id, extract(year FROM day)::smallint,
       event_action, bit_or(set_bit(repeat('0', 366)::bit(366), auditlens_day_of_year(day), 1))
  FROM (SELECT DISTINCT organization_id, resource_type, resource_id, user_id, day, event_action
          FROM rollup_details_fill) d
 GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO rollup_resource_user_ip_years
  (organization_id, resource_type, resource_id, user_id, year, ip_address, days)
SELECT organization_id, resource_type, resource_id, user_id, extract(year FROM day)::smallint,
       ip_address, bit_or(set_bit(repeat('0', 366)::bit(366), auditlens_day_of_year(day), 1))
  FROM (SELECT DISTINCT organization_id, resource_type, resource_id, user_id, day, ip_address
          FROM rollup_details_fill WHERE ip_address IS NOT NULL) d
 GROUP BY 1, 2, 3, 4, 5, 6;

DROP TABLE rollup_details_fill;

-- The view's column list was fixed when 0020 created it: add the new column to it.
CREATE OR REPLACE VIEW org_rollup_user_day_resources WITH (security_barrier) AS
  SELECT * FROM rollup_user_day_resources WHERE organization_id = auditlens_current_org();
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
