-- TimescaleDB with the Timescale license: continuous aggregates for the hourly counts (and a
-- daily one stacked on the hourly), real-time aggregation on (materialized_only = false, so
-- the newest events count before materialisation), and compression of old raw chunks.
-- Plain PostgreSQL and the Apache edition skip this file: they use the rollup tables of
-- 0020/0021 for everything, and so does this flavour for the per-user-day tables (distinct
-- counts and time-zone-dependent off-hours cannot live in a continuous aggregate).
--
-- Created WITH NO DATA: CREATE MATERIALIZED VIEW ... WITH DATA cannot run in a transaction
-- block or a function, and every migration runs in one. `ReadModel.refresh()` materialises
-- them outside any transaction (CALL refresh_continuous_aggregate). No TimescaleDB background
-- policy is added: its jobs run as the table owner, and auditlens_owner is NOLOGIN by design
-- (add_*_policy refuses such owners), so AuditLens's own refresh (`auditlens refresh`, after
-- ingest batches, RefreshTimer) is the refresh and compression policy.
--
-- Isolation: continuous aggregates cannot be security-barrier views themselves, and the
-- hypertable has no row-level security (a cagg cannot be built on one; chunks would not
-- inherit it anyway). Readers get org_cagg_* security-barrier views and no privilege on the
-- aggregates, exactly like the other org_* views.
DO $timescale$
BEGIN
  IF current_setting('auditlens.capability') <> 'timescale_full' THEN
    RETURN;
  END IF;

  EXECUTE $v$
    CREATE MATERIALIZED VIEW cagg_hour_actions
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT organization_id, time_bucket(INTERVAL '1 hour', event_time) AS bucket,
           event_type, event_action, count(*) AS events
      FROM audit_events
     GROUP BY organization_id, time_bucket(INTERVAL '1 hour', event_time), event_type,
              event_action
    WITH NO DATA
  $v$;
  EXECUTE $v$
    CREATE MATERIALIZED VIEW cagg_day_actions
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT organization_id, time_bucket(INTERVAL '1 day', bucket) AS day,
           event_type, event_action, sum(events) AS events
      FROM cagg_hour_actions
     GROUP BY organization_id, time_bucket(INTERVAL '1 day', bucket), event_type, event_action
    WITH NO DATA
  $v$;
  EXECUTE $v$
    CREATE MATERIALIZED VIEW cagg_hour_users
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT organization_id, user_id, time_bucket(INTERVAL '1 hour', event_time) AS bucket,
           event_type, max(user_email) AS user_email, count(*) AS events
      FROM audit_events
     GROUP BY organization_id, user_id, time_bucket(INTERVAL '1 hour', event_time), event_type
    WITH NO DATA
  $v$;

  EXECUTE 'REVOKE ALL ON cagg_hour_actions, cagg_day_actions, cagg_hour_users FROM PUBLIC';
  EXECUTE 'CREATE VIEW org_cagg_hour_actions WITH (security_barrier) AS'
       || ' SELECT * FROM cagg_hour_actions WHERE organization_id = auditlens_current_org()';
  EXECUTE 'CREATE VIEW org_cagg_day_actions WITH (security_barrier) AS'
       || ' SELECT * FROM cagg_day_actions WHERE organization_id = auditlens_current_org()';
  EXECUTE 'CREATE VIEW org_cagg_hour_users WITH (security_barrier) AS'
       || ' SELECT * FROM cagg_hour_users WHERE organization_id = auditlens_current_org()';
  EXECUTE 'GRANT SELECT ON org_cagg_hour_actions, org_cagg_day_actions, org_cagg_hour_users'
       || ' TO auditlens_reader';

  -- Compression of raw chunks (segmented by organisation, so one organisation's reads never
  -- decompress another's). Optional: a server that refuses it keeps uncompressed chunks and
  -- says why in the migration log; nothing else depends on it.
  BEGIN
    EXECUTE $c$
      ALTER TABLE audit_events SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'organization_id',
        timescaledb.compress_orderby = 'event_time DESC'
      )
    $c$;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'AuditLens: audit_events compression not enabled: %', SQLERRM;
  END;
END
$timescale$;
