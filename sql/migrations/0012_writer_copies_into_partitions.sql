-- Writers COPY into audit_events' month partitions directly. With row-level security on
-- audit_events (0007), PostgreSQL refuses COPY FROM into the table itself ("COPY FROM not
-- supported with row-level security"), which would leave ingest with a staging table and a
-- second INSERT pass for every batch. Partitions carry no policies, and the writer's policy on
-- audit_events is WITH CHECK (true) for INSERT, so INSERT on each partition gives the writer
-- exactly what it had: adding rows, nothing else (no SELECT, UPDATE, DELETE or TRUNCATE, and
-- readers still have no privilege on any partition). The primary key is enforced per
-- partition, so a duplicate still fails the COPY, and the writer falls back to the staging
-- table and ON CONFLICT DO NOTHING.

-- Every partition that exists now.
DO $grants$
DECLARE
  part regclass;
BEGIN
  FOR part IN
    SELECT i.inhrelid::regclass FROM pg_inherits i
     WHERE i.inhparent = 'audit_events'::regclass
       AND EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'audit_events'::regclass)
  LOOP
    EXECUTE format('GRANT INSERT ON %s TO auditlens_writer', part);
  END LOOP;
END
$grants$;

-- And every partition created from now on: audit_ensure_partitions as in 0005, plus the grant.
CREATE OR REPLACE FUNCTION audit_ensure_partitions(event_times timestamptz[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  month_start timestamptz;
  part_name   text;
  created     integer := 0;
  locked      boolean := false;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table
                  WHERE partrelid = 'audit_events'::regclass) THEN
    RETURN 0;  -- a hypertable: TimescaleDB creates its chunks itself
  END IF;
  FOR month_start IN
    SELECT DISTINCT date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      FROM unnest(event_times) AS t WHERE t IS NOT NULL
  LOOP
    part_name := 'audit_events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
    CONTINUE WHEN to_regclass(part_name) IS NOT NULL;
    IF NOT locked THEN
      -- Only when a month is missing: two writers meeting it must not race on CREATE TABLE,
      -- and writers whose months exist never wait on each other.
      PERFORM pg_advisory_xact_lock(hashtext('audit_ensure_partitions'));
      locked := true;
      CONTINUE WHEN to_regclass(part_name) IS NOT NULL;
    END IF;
    -- Rows of this month already in the default partition would make CREATE fail; they stay
    -- there (still correct, still protected) and the month keeps using the default.
    CONTINUE WHEN EXISTS (
      SELECT 1 FROM audit_events_default
       WHERE event_time >= month_start AND event_time < month_start + INTERVAL '1 month');
    BEGIN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
        part_name, month_start, month_start + INTERVAL '1 month');
    EXCEPTION WHEN duplicate_table THEN
      CONTINUE;  -- a concurrent writer created it first: the month exists, which is the point
    END;
    EXECUTE format(
      'CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I '
      'FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_truncate()', part_name);
    EXECUTE format('GRANT INSERT ON %I TO auditlens_writer', part_name);
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;

