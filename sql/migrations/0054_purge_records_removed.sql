-- The purge records what it removed itself. Before, sql/retention.py copied the removed rows
-- out of the function's temp table `purge_removed` after the call: an unwritten contract
-- between two files, which any other caller of audit_purge_expired() broke silently (a purge
-- that `auditlens verify` would then report as deletions). Now the same statement that
-- removes rows also writes audit_purged_events, in the same transaction, whoever calls it.
-- The working table is schema-qualified (pg_temp) so a table of the same name elsewhere on
-- the search_path can never receive the rows, and it may be called twice in a transaction.
CREATE OR REPLACE FUNCTION audit_purge_expired(as_of timestamptz DEFAULT now())
RETURNS TABLE (organization_id text, event_type text, removed_count bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  part           record;
  fully_expired  boolean;
  is_partitioned boolean := EXISTS (SELECT 1 FROM pg_partitioned_table
                                     WHERE partrelid = 'audit_events'::regclass);
BEGIN
  IF as_of > now() THEN
    RAISE EXCEPTION 'purge cannot look into the future: as_of % is after now()', as_of;
  END IF;
  PERFORM set_config('auditlens.purging', 'on', true);
  DROP TABLE IF EXISTS pg_temp.purge_removed;
  CREATE TEMP TABLE purge_removed (
    organization_id text, event_type text, event_time timestamptz, ingest_seq bigint
  ) ON COMMIT DROP;

  FOR part IN
    SELECT c.oid::regclass AS rel, c.relname
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE is_partitioned
       AND i.inhparent = 'audit_events'::regclass AND c.relname <> 'audit_events_default'
  LOOP
    EXECUTE format(
      'SELECT NOT EXISTS (SELECT 1 FROM %s WHERE retention_guaranteed_until >= %L)
          AND EXISTS (SELECT 1 FROM %s)', part.rel, as_of, part.rel)
      INTO STRICT fully_expired;
    IF fully_expired THEN
      EXECUTE format(
        'INSERT INTO pg_temp.purge_removed'
        ' SELECT organization_id, event_type, event_time, ingest_seq FROM %s',
        part.rel);
      EXECUTE format('DROP TABLE %s', part.rel);
    END IF;
  END LOOP;

  WITH removed AS (
    DELETE FROM audit_events e WHERE e.retention_guaranteed_until < as_of
    RETURNING e.organization_id, e.event_type, e.event_time, e.ingest_seq
  )
  INSERT INTO pg_temp.purge_removed SELECT * FROM removed;

  INSERT INTO audit_purges (organization_id, event_type, removed_count,
                            oldest_event, newest_event, max_ingest_seq)
  SELECT r.organization_id, r.event_type, count(*), min(r.event_time), max(r.event_time),
         max(r.ingest_seq)
    FROM pg_temp.purge_removed r GROUP BY r.organization_id, r.event_type;

  -- Tamper evidence: a sealed event that is gone verifies only with a record dated after its
  -- retention guarantee (ingest/integrity/verify.py).
  INSERT INTO audit_purged_events (organization_id, ingest_seq)
  SELECT r.organization_id, r.ingest_seq FROM pg_temp.purge_removed r;

  PERFORM set_config('auditlens.purging', 'off', true);
  RETURN QUERY
    SELECT r.organization_id, r.event_type, count(*)::bigint
      FROM pg_temp.purge_removed r GROUP BY r.organization_id, r.event_type
     ORDER BY 1, 2;
END
$$;
REVOKE ALL ON FUNCTION audit_purge_expired(timestamptz) FROM PUBLIC;
