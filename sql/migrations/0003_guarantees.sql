-- Append-only, retention that only ever guarantees more, and partitions that always exist.

-- Retention: defaults by family (the request's compliance table), overridable per organisation.
CREATE TABLE retention_policies (
  organization_id text        NOT NULL,
  event_type      text        NOT NULL,
  retention_days  integer     NOT NULL CHECK (retention_days BETWEEN 1 AND 36500),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  updated_by      text        NOT NULL,
  PRIMARY KEY (organization_id, event_type)
);

CREATE FUNCTION audit_default_retention_days(family text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE family
    WHEN 'login' THEN 90
    WHEN 'log_access' THEN 365
    WHEN 'config_change' THEN 2555
    WHEN 'user_management' THEN 2555
    WHEN 'data_modification' THEN 2555
    ELSE 365
  END
$$;

-- Days an event of this organisation and family is guaranteed to be kept, as of now. A policy
-- lowered later does not touch events already stored: their guarantee is a column of their own.
CREATE FUNCTION audit_retention_days(org text, family text) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(
    (SELECT retention_days FROM retention_policies p
      WHERE p.organization_id = org AND p.event_type = family),
    audit_default_retention_days(family))
$$;

-- Append-only, loudly: an error, never a silent no-op. The only DELETE that passes is the
-- retention purge, and even it cannot remove a row still under its guarantee or under a
-- legal hold (audit_event_held, with the holds).
CREATE FUNCTION audit_events_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND current_setting('auditlens.purging', true) = 'on'
     AND OLD.retention_guaranteed_until < now() THEN
    IF public.audit_event_held(OLD.organization_id, OLD.event_time, OLD.event_type,
                               OLD.event_action, OLD.user_id, OLD.user_email,
                               OLD.resource_type, OLD.resource_id, OLD.session_id,
                               OLD.ip_address) THEN
      RAISE EXCEPTION 'audit_events: event % of organisation % is under a legal hold',
        OLD.id, OLD.organization_id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A held event is never purged; lift the hold first (auditlens holds lift).';
    END IF;
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Audit events are never changed; the retention purge removes expired ones.';
END
$$;

CREATE FUNCTION audit_events_reject_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: TRUNCATE of % is not allowed', TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Audit events are never changed; the retention purge removes expired ones.';
END
$$;

-- The columns the guarantees rest on are the server's, never the writer's: a writer that sent
-- an ingest_xid from the future would have a row no seal ever covers, and a guarantee in the
-- past would make an event purgeable at once. Set here on every insert (COPY included, and
-- a partition's own insert: the trigger is cloned to every partition and chunk), overriding
-- whatever was sent. The guarantee is the event's time plus its organisation's and family's
-- retention as of now. Schema-qualified names, not a SET search_path, which would cost every
-- row a configuration change.
CREATE FUNCTION audit_events_server_columns() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.received_at := now();
  NEW.ingest_seq := nextval('public.audit_events_ingest_seq'::regclass);
  NEW.ingest_xid := pg_catalog.pg_current_xact_id();
  -- Only sql.event_store.record_event sets this (transaction-local, around its own insert).
  NEW.own_use := coalesce(current_setting('auditlens.own_use', true), '') = 'on';
  NEW.retention_guaranteed_until := NEW.event_time + pg_catalog.make_interval(
    days => public.audit_retention_days(NEW.organization_id, NEW.event_type));
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_events_server_columns BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_server_columns();
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_truncate();

-- Exports are recorded before their first byte and given their outcome once, when they end:
-- an UPDATE must set ended_at on a row that has none yet, and may not touch what the export
-- was (who, when, what, the filter). Nothing removes an export's record.
CREATE FUNCTION audit_exports_finalise_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.ended_at IS NOT NULL THEN
      RAISE EXCEPTION 'audit_exports: export % has ended already; its record is final',
        OLD.export_id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'An export is finalised once, when it ends.';
    END IF;
    IF NEW.ended_at IS NULL THEN
      RAISE EXCEPTION 'audit_exports: an update of export % must end it (ended_at)',
        OLD.export_id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'An export is finalised once, when it ends.';
    END IF;
    IF (NEW.export_id, NEW.organization_id, NEW.exported_by, NEW.exported_at,
        NEW.export_kind, NEW.export_format, NEW.filter, NEW.filter_text)
       IS DISTINCT FROM
       (OLD.export_id, OLD.organization_id, OLD.exported_by, OLD.exported_at,
        OLD.export_kind, OLD.export_format, OLD.filter, OLD.filter_text) THEN
      RAISE EXCEPTION 'audit_exports: who, when and what of export % never change',
        OLD.export_id
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.ended_at := now();  -- the server's clock, as for an event's received_at
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_exports keeps every record: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'An export is recorded when it starts and finalised once, when it ends.';
END
$$;

CREATE TRIGGER audit_exports_finalise_once BEFORE UPDATE ON audit_exports
  FOR EACH ROW EXECUTE FUNCTION audit_exports_finalise_once();
CREATE TRIGGER audit_exports_no_delete BEFORE DELETE ON audit_exports
  FOR EACH ROW EXECUTE FUNCTION audit_exports_finalise_once();
CREATE TRIGGER audit_exports_no_truncate BEFORE TRUNCATE ON audit_exports
  FOR EACH STATEMENT EXECUTE FUNCTION audit_exports_finalise_once();

-- Monthly partitions on plain PostgreSQL. TRUNCATE of one partition bypasses the parent's
-- statement trigger, so each partition gets its own. The DEFAULT partition is the last
-- resort that makes an insert for any month succeed even if nobody created its partition.
-- Takes the months that rows will land in (not a range: one event in 1999 and one in 2090
-- must not create a thousand partitions).
CREATE FUNCTION audit_ensure_partitions(event_times timestamptz[])
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
    -- The re-check after the advisory lock can read a catalog snapshot from before the lock
    -- (advisory locks do not process invalidation messages), so a writer that waited for
    -- another creating the same month may still meet 42P07: the month exists, which is enough.
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
    -- Writers COPY into the partitions directly (see the access migration).
    EXECUTE format('GRANT INSERT ON %I TO auditlens_writer', part_name);
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;

DO $partitions$
BEGIN
  IF current_setting('auditlens.capability') = 'postgres' THEN
    CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events_default
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_truncate();
    GRANT INSERT ON audit_events_default TO auditlens_writer;
    -- A year back for backfills, three months ahead; the writer creates others on demand.
    PERFORM audit_ensure_partitions(ARRAY(SELECT generate_series(
      now() - INTERVAL '12 months', now() + INTERVAL '3 months', INTERVAL '1 month')));
  END IF;
END
$partitions$;

-- TimescaleDB: a hypertable's row triggers are cloned to every chunk, its statement triggers
-- are not, so TRUNCATE of one chunk (as of one partition above) needs a trigger of its own.
-- A compressed chunk's rows live in batches in a table of TimescaleDB's own, which no
-- trigger above covers: DELETE there would remove a thousand events at once, silently. That
-- table gets triggers refusing every change (TimescaleDB's own compression, decompression
-- and DML on compressed chunks write it directly, without firing triggers).
CREATE FUNCTION audit_events_reject_batch_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % of the compressed events in % is not allowed',
    TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Audit events are never changed; the retention purge removes expired ones.';
END
$$;

-- Gives every chunk of audit_events, and every compressed chunk's table, its triggers; returns
-- how many tables it protected. A table another session is writing to is left for the next
-- call (NOWAIT) rather than waited for: CREATE TRIGGER conflicts with inserts, and writers
-- call this themselves (the statement trigger below). Nothing to do on plain PostgreSQL.
CREATE FUNCTION audit_protect_chunks() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  target    record;
  protected integer := 0;
BEGIN
  IF to_regclass('_timescaledb_catalog.chunk') IS NULL THEN
    RETURN 0;
  END IF;
  -- Chunks inherit from their hypertable; a compressed chunk's table is its chunk's
  -- compressed_chunk_id in TimescaleDB's catalogue. Dynamic: plain PostgreSQL has no such
  -- catalogue to plan against.
  FOR target IN EXECUTE $q$
    SELECT c.oid::regclass AS rel, false AS batches
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'public.audit_events'::regclass
       AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                        WHERE t.tgrelid = c.oid AND t.tgname = 'audit_events_no_truncate')
    UNION ALL
    SELECT z.oid::regclass, true
      FROM _timescaledb_catalog.hypertable h
      JOIN _timescaledb_catalog.chunk ch ON ch.hypertable_id = h.id
      JOIN _timescaledb_catalog.chunk cz ON cz.id = ch.compressed_chunk_id
      JOIN pg_namespace n ON n.nspname = cz.schema_name
      JOIN pg_class z ON z.relnamespace = n.oid AND z.relname = cz.table_name
     WHERE h.schema_name = 'public' AND h.table_name = 'audit_events'
       AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                        WHERE t.tgrelid = z.oid AND t.tgname = 'audit_events_no_truncate')
  $q$
  LOOP
    BEGIN
      EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE NOWAIT', target.rel);
    EXCEPTION WHEN lock_not_available THEN
      CONTINUE;
    END;
    BEGIN
      IF target.batches THEN
        -- TimescaleDB hands a batch table the hypertable's privileges: a writer's INSERT there
        -- would store events no server-columns trigger saw (any organisation, guarantee or
        -- ingest order). Only TimescaleDB's own compression writes batches.
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s'
          ' FROM PUBLIC, auditlens_writer, auditlens_reader', target.rel);
        EXECUTE format(
          'CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON %s'
          ' FOR EACH ROW EXECUTE FUNCTION audit_events_reject_batch_change()', target.rel);
        EXECUTE format(
          'CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %s'
          ' FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_batch_change()',
          target.rel);
      ELSE
        EXECUTE format(
          'CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %s'
          ' FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_truncate()', target.rel);
      END IF;
      protected := protected + 1;
    EXCEPTION WHEN duplicate_object THEN
      -- Another session protected it and committed between our look and our lock.
      NULL;
    END;
  END LOOP;
  RETURN protected;
END
$$;
REVOKE ALL ON FUNCTION audit_protect_chunks() FROM PUBLIC;

-- A chunk is created by the insert that needs it: that insert's statement trigger protects it
-- in the same transaction, before any other session can see it, whoever inserts (so as the
-- owner of the chunks).
CREATE FUNCTION audit_events_protect_new_chunks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM audit_protect_chunks();
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit_events_protect_new_chunks() FROM PUBLIC;

-- Compresses (columnstore) the chunks whose every event is older than `older_than`, on
-- TimescaleDB with the Timescale license (elsewhere: nothing), and protects their compressed
-- tables in the same transaction; returns how many chunks it compressed. A chunk compressed
-- before and written since (a late event, a purge's deletions) is compressed again.
CREATE FUNCTION audit_compress_chunks(older_than interval) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  chunk      regclass;
  compressed integer := 0;
  rolled_up  boolean;
BEGIN
  IF older_than IS NULL OR older_than < INTERVAL '1 day' THEN
    RAISE EXCEPTION 'compression: older_than must be at least a day, got %', older_than;
  END IF;
  IF to_regclass('_timescaledb_catalog.chunk') IS NULL THEN
    RETURN 0;
  END IF;
  FOR chunk IN EXECUTE $q$
    SELECT c FROM show_chunks('public.audit_events', older_than => $1) c
     WHERE EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                    WHERE hypertable_schema = 'public' AND hypertable_name = 'audit_events'
                      AND compression_enabled)
  $q$ USING older_than
  LOOP
    -- One chunk at a time: a purge may drop a listed chunk before its turn (TimescaleDB:
    -- "chunk deleted by other transaction"), which leaves nothing to compress there.
    BEGIN
      -- not yet compressed (bit 1), or written since (bit 8: partially compressed)
      IF _timescaledb_functions.chunk_status(chunk) & 9 <> 1 THEN
        -- Only events already rolled up are compressed, so the read model's span of the
        -- events past the watermark (auditlens_past_watermark_span) need not read compressed
        -- batches. SHARE mode waits for no writer (NOWAIT: the next run retries) and keeps
        -- writers out of the chunk from the check to the end of this transaction; the
        -- committed watermark only grows. A chunk still holding events past it waits for the
        -- next refresh.
        EXECUTE format('LOCK TABLE %s IN SHARE MODE NOWAIT', chunk);
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s WHERE ingest_xid >= $1)', chunk)
          INTO rolled_up
          USING (SELECT coalesce(max(watermark), '0'::xid8) FROM rollup_state
                  WHERE name = 'events');
        IF rolled_up THEN
          PERFORM compress_chunk(chunk, if_not_compressed => true);
          compressed := compressed + 1;
        END IF;
      END IF;
    EXCEPTION WHEN lock_not_available OR undefined_table THEN
      NULL;
    END;
  END LOOP;
  PERFORM audit_protect_chunks();
  RETURN compressed;
END
$$;
REVOKE ALL ON FUNCTION audit_compress_chunks(interval) FROM PUBLIC;

DO $chunks$
BEGIN
  IF current_setting('auditlens.capability') <> 'postgres' THEN
    CREATE TRIGGER audit_events_protect_new_chunks AFTER INSERT ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_protect_new_chunks();
  END IF;
END
$chunks$;

-- What each purge removed, per organisation and family (sealing builds on this).
CREATE TABLE audit_purges (
  purge_id        bigint GENERATED ALWAYS AS IDENTITY,
  purged_at       timestamptz NOT NULL DEFAULT now(),
  organization_id text        NOT NULL,
  event_type      text        NOT NULL,
  removed_count   bigint      NOT NULL,
  oldest_event    timestamptz,
  newest_event    timestamptz,
  max_ingest_seq  bigint,
  PRIMARY KEY (organization_id, purge_id)
);

-- The only path that removes events: rows whose guarantee has passed and that no legal hold
-- covers, nothing else. Whole partitions (TimescaleDB: chunks, compressed or not) that are
-- entirely expired and unheld, checked again once writers are locked out of them, are
-- dropped; the rest is deleted row by row through the trigger above, which re-checks every
-- row's guarantee and holds. A chunk holds every organisation's events of its week: it goes
-- whole only when each of them, of whatever organisation, has passed its own guarantee.
-- Holds are locked (SHARE) first: a hold being placed is waited for and counts, and none can
-- be placed or lifted until the purge commits. What holds kept that retention would have
-- removed is left in pg_temp.purge_kept (organisation, hold, family, events), for the caller
-- to report.
-- It records what it removed itself, in the statement that removes it (audit_purged_events,
-- created with the integrity tables), so any caller's purge verifies as a purge, not as
-- deletions. The working table is schema-qualified (pg_temp) so a table of the same name
-- elsewhere on the search_path can never receive the rows, and it may be called twice in a
-- transaction; sql/retention.py reads it to recompute the rollups of the days that lost events.
CREATE FUNCTION audit_purge_expired(as_of timestamptz DEFAULT now())
RETURNS TABLE (organization_id text, event_type text, removed_count bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  part           record;
  fully_expired  boolean;
  held           boolean;
  expired_check  constant text := 'SELECT NOT EXISTS (SELECT 1 FROM %s'
    ' WHERE retention_guaranteed_until >= %L) AND EXISTS (SELECT 1 FROM %s)';
  held_check     constant text := 'SELECT EXISTS (SELECT 1 FROM %s e WHERE audit_event_held('
    'e.organization_id, e.event_time, e.event_type, e.event_action, e.user_id, e.user_email,'
    ' e.resource_type, e.resource_id, e.session_id, e.ip_address))';
  any_hold       boolean;
BEGIN
  IF as_of > now() THEN
    RAISE EXCEPTION 'purge cannot look into the future: as_of % is after now()', as_of;
  END IF;
  LOCK TABLE audit_holds IN SHARE MODE;
  -- Under READ COMMITTED the next statement sees every hold committed before the lock. A
  -- snapshot taken before it (any other isolation) may miss one: a hold id the sequence
  -- handed out but this snapshot cannot see is refused rather than guessed at.
  IF current_setting('transaction_isolation') <> 'read committed'
     AND (SELECT coalesce(max(hold_id), 0) FROM audit_holds)
         < (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
              FROM audit_holds_hold_id_seq) THEN
    RAISE EXCEPTION 'purge: a legal hold may have been placed after this transaction began'
      USING HINT = 'Run the purge in its own READ COMMITTED transaction.';
  END IF;
  any_hold := EXISTS (SELECT 1 FROM audit_holds WHERE lifted_at IS NULL);
  PERFORM set_config('auditlens.purging', 'on', true);
  DROP TABLE IF EXISTS pg_temp.purge_removed;
  CREATE TEMP TABLE purge_removed (
    organization_id text, event_type text, event_time timestamptz, ingest_seq bigint
  ) ON COMMIT DROP;
  DROP TABLE IF EXISTS pg_temp.purge_kept;
  CREATE TEMP TABLE purge_kept (
    organization_id text, hold_id bigint, event_type text, kept_count bigint
  ) ON COMMIT DROP;

  -- A hypertable's chunks inherit from it as partitions do from their parent.
  FOR part IN
    SELECT c.oid::regclass AS rel, c.relname
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'audit_events'::regclass AND c.relname <> 'audit_events_default'
  LOOP
    -- A first look without a lock: most partitions hold something unexpired.
    EXECUTE format(expired_check, part.rel, as_of, part.rel) INTO STRICT fully_expired;
    CONTINUE WHEN NOT fully_expired;
    -- That look ran on a snapshot that cannot see rows a writer is still inserting, and DROP
    -- would wait for that writer, then drop what it committed. So: lock writers out first,
    -- then look again on a snapshot taken after the lock. Only READ COMMITTED takes a new
    -- snapshot per statement; under any other isolation the partition's rows are deleted one
    -- by one below instead, which never touches a row the DELETE cannot see.
    CONTINUE WHEN current_setting('transaction_isolation') <> 'read committed';
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', part.rel);
    EXECUTE format(expired_check, part.rel, as_of, part.rel) INTO STRICT fully_expired;
    IF fully_expired AND any_hold THEN
      -- A held event keeps its partition: the unheld rows go one by one below.
      EXECUTE format(held_check, part.rel) INTO STRICT held;
      fully_expired := NOT held;
    END IF;
    IF fully_expired THEN
      EXECUTE format(
        'INSERT INTO pg_temp.purge_removed'
        ' SELECT organization_id, event_type, event_time, ingest_seq FROM %s',
        part.rel);
      EXECUTE format('DROP TABLE %s', part.rel);
    END IF;
  END LOOP;

  WITH removed AS (
    DELETE FROM audit_events e
     WHERE e.retention_guaranteed_until < as_of
       AND NOT (any_hold AND audit_event_held(
         e.organization_id, e.event_time, e.event_type, e.event_action, e.user_id,
         e.user_email, e.resource_type, e.resource_id, e.session_id, e.ip_address))
    RETURNING e.organization_id, e.event_type, e.event_time, e.ingest_seq
  )
  INSERT INTO pg_temp.purge_removed SELECT * FROM removed;

  IF any_hold THEN
    INSERT INTO pg_temp.purge_kept
    SELECT h.organization_id, h.hold_id, e.event_type, count(*)
      FROM audit_events e
      JOIN audit_holds h ON h.organization_id = e.organization_id AND h.lifted_at IS NULL
       AND audit_hold_covers(h, e.organization_id, e.event_time, e.event_type, e.event_action,
             e.user_id, e.user_email, e.resource_type, e.resource_id, e.session_id,
             e.ip_address)
     WHERE e.retention_guaranteed_until < as_of
     GROUP BY h.organization_id, h.hold_id, e.event_type;
  END IF;

  INSERT INTO audit_purges (organization_id, event_type, removed_count,
                            oldest_event, newest_event, max_ingest_seq)
  SELECT r.organization_id, r.event_type, count(*), min(r.event_time), max(r.event_time),
         max(r.ingest_seq)
    FROM pg_temp.purge_removed r GROUP BY r.organization_id, r.event_type;

  -- Tamper evidence: a sealed event that is gone verifies only with a record dated after its
  -- retention guarantee (integrity/verify.py).
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
