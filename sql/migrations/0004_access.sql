-- Who may do what. Writers insert; readers read one organisation at a time through views;
-- nobody, not even the owner, may UPDATE or TRUNCATE audit events.

REVOKE ALL ON audit_events FROM PUBLIC;
-- The owner keeps DELETE only because the purge function runs as the owner; the trigger
-- still refuses every DELETE outside a purge and every row still under its guarantee.
REVOKE UPDATE, TRUNCATE ON audit_events FROM auditlens_owner;
GRANT INSERT, SELECT ON audit_events TO auditlens_writer;
GRANT USAGE ON SEQUENCE audit_events_ingest_seq TO auditlens_writer;
GRANT INSERT ON audit_rejects, audit_exports TO auditlens_writer;
GRANT SELECT, INSERT ON organizations TO auditlens_writer;
GRANT SELECT ON retention_policies TO auditlens_writer;
-- Every function may be executed by PUBLIC unless revoked: each SECURITY DEFINER one is
-- revoked from PUBLIC where it is made (or here) and granted only to the roles that call it.
-- Creating partitions is the writer's business (a reader must not make tables).
REVOKE ALL ON FUNCTION audit_ensure_partitions(timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_ensure_partitions(timestamptz[]) TO auditlens_writer;
REVOKE ALL ON FUNCTION audit_purge_expired(timestamptz) FROM PUBLIC;
-- The writer records an export and names it in the export's audit event, so it needs the new
-- row's id back (INSERT ... RETURNING export_id), and finalises a row by its key (organisation
-- and id): those two columns only, nothing else of the table.
GRANT SELECT (organization_id, export_id) ON audit_exports TO auditlens_writer;
-- An export's row is inserted before its first byte and finalised when it ends: the writer
-- may set its outcome and nothing else of it (a trigger allows that once per row).
GRANT UPDATE (row_count, sha256, flagged_for_review, completed, ended_at) ON audit_exports
  TO auditlens_writer;

-- Readers never touch base tables: each view shows the rows of the organisation set for the
-- session (auditlens.organization_id) and nothing when none is set. Views rather than
-- row-level security because TimescaleDB refuses row-level security on a hypertable with
-- compression and its chunks do not inherit policies; views hold for every server alike
-- (audit_events itself adds row-level security under its view where it can, below).
-- The organisation as a scalar subquery (a parameter computed once), not a function call:
-- TimescaleDB pushes a parameter, and not a stable function call, into the scan of a
-- compressed chunk's batches, where it skips other organisations' batches (segmented by
-- organisation) instead of decompressing every event of the chunk and then filtering.
CREATE VIEW org_audit_events WITH (security_barrier) AS
  SELECT * FROM audit_events WHERE organization_id = (SELECT auditlens_current_org());
CREATE VIEW org_audit_rejects WITH (security_barrier) AS
  SELECT * FROM audit_rejects WHERE organization_id = auditlens_current_org();
CREATE VIEW org_audit_exports WITH (security_barrier) AS
  SELECT * FROM audit_exports WHERE organization_id = auditlens_current_org();
CREATE VIEW org_organizations WITH (security_barrier) AS
  SELECT * FROM organizations WHERE organization_id = auditlens_current_org();
CREATE VIEW org_retention_policies WITH (security_barrier) AS
  SELECT * FROM retention_policies WHERE organization_id = auditlens_current_org();
CREATE VIEW org_audit_purges WITH (security_barrier) AS
  SELECT * FROM audit_purges WHERE organization_id = auditlens_current_org();

GRANT SELECT ON org_audit_events, org_audit_rejects, org_audit_exports, org_organizations,
  org_retention_policies, org_audit_purges TO auditlens_reader;

-- Organisation scope for audit_events by row-level security (not on TimescaleDB with the
-- Timescale license), so the planner can use ordered
-- index scans through org_audit_events.
--
-- Why: a security_barrier view is planned as a subquery of its own, so an outer
-- ORDER BY event_time DESC LIMIT 100 (Explore's newest-first page, the 100 events of a
-- user-day) could not be pushed into the partitions' (org, ..., event_time) indexes: every
-- matching row was read and sorted. A row-level security policy is a qualifier on the table
-- itself, which the planner keeps ahead of any leaky qualifier of the query (as the barrier
-- did) but around which it plans Limit -> Merge Append -> Index Scan.
--
-- How: org_audit_events becomes a plain view (same name and columns) owned by
-- auditlens_org_scope (see the roles migration), whose only way to audit_events is the policy
-- `organization_id = auditlens_current_org()`. The view runs with its owner's rights, so the
-- reader keeps NO privilege on audit_events, its partitions or (TimescaleDB Apache) its
-- chunks: TimescaleDB copies a hypertable's grants to every chunk but not its policies, so a
-- reader granted SELECT on the hypertable could read any organisation chunk by chunk.
-- auditlens_org_scope's own chunk grants are harmless: nobody logs in as it, and its only
-- members are the owner roles, which see every organisation anyway.
--
-- Not FORCE ROW LEVEL SECURITY: the owner's maintenance (purge, refresh, sealing, partition
-- checks; all run as auditlens_owner or the login role) must see every organisation, and a
-- policy of `true` for the owner would make FORCE a no-op. Writers keep exactly what they had
-- (INSERT and SELECT of every row) through explicit policies.
--
-- TimescaleDB with the Timescale license keeps the security_barrier view above: its
-- hypertable has compression (see the rollups), and TimescaleDB refuses row-level security on
-- a hypertable with compression ("not supported on hypertables that have columnstore enabled").
DO $rls$
BEGIN
  IF current_setting('auditlens.capability') = 'timescale_full' THEN
    RETURN;
  END IF;

  ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
  CREATE POLICY audit_events_org_scope ON audit_events FOR SELECT TO auditlens_org_scope
    USING (organization_id = auditlens_current_org());
  CREATE POLICY audit_events_writer_insert ON audit_events FOR INSERT TO auditlens_writer
    WITH CHECK (true);
  CREATE POLICY audit_events_writer_select ON audit_events FOR SELECT TO auditlens_writer
    USING (true);
  GRANT SELECT ON audit_events TO auditlens_org_scope;

  ALTER VIEW org_audit_events OWNER TO auditlens_org_scope;
  -- Still filtered by the view itself too: the policy is the guard, this keeps the view
  -- meaning the same if it is ever read with rights that bypass row-level security.
  ALTER VIEW org_audit_events RESET (security_barrier);
  -- A new owner starts with the default privileges: make them exactly what the view had.
  REVOKE ALL ON org_audit_events FROM PUBLIC;
  GRANT SELECT ON org_audit_events TO auditlens_reader;
END
$rls$;

-- Writers COPY into audit_events' month partitions directly. With row-level security on
-- audit_events (above), PostgreSQL refuses COPY FROM into the table itself ("COPY FROM not
-- supported with row-level security"), which would leave ingest with a staging table and a
-- second INSERT pass for every batch. Partitions carry no policies, and the writer's policy on
-- audit_events is WITH CHECK (true) for INSERT, so INSERT on each partition gives the writer
-- exactly what it had: adding rows, nothing else (no SELECT, UPDATE, DELETE or TRUNCATE, and
-- readers still have no privilege on any partition). The primary key is enforced per
-- partition, so a duplicate still fails the COPY, and the writer falls back to the staging
-- table and ON CONFLICT DO NOTHING.
-- audit_ensure_partitions grants INSERT on each partition it creates, and on the DEFAULT one.

-- Ingest keys for the HTTP receiver: one bearer token per producer, bound to one
-- organisation. Only a SHA-256 of the token's 256-bit random secret is stored: a fast hash is
-- enough for a random secret (argon2 is for guessable passwords) and keeps every request cheap.

CREATE TABLE ingest_keys (
  key_id          text        PRIMARY KEY CHECK (key_id ~ '^[a-z0-9]{12}$'),
  organization_id text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  secret_sha256   bytea       NOT NULL CHECK (length(secret_sha256) = 32),
  label           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text        NOT NULL,
  revoked_at      timestamptz,
  revoked_by      text
);
CREATE INDEX ingest_keys_org ON ingest_keys (organization_id);
REVOKE ALL ON ingest_keys FROM PUBLIC;

-- The receiver (as auditlens_writer) may ask "which organisation does this key serve?" and
-- nothing else: it never reads the hashes or lists keys.
CREATE FUNCTION auditlens_ingest_key_org(p_key_id text, p_secret_sha256 bytea) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT organization_id FROM ingest_keys
   WHERE key_id = p_key_id AND secret_sha256 = p_secret_sha256 AND revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION auditlens_ingest_key_org(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_ingest_key_org(text, bytea) TO auditlens_writer;

-- Readers see their organisation's keys without the hashes.
CREATE VIEW org_ingest_keys WITH (security_barrier) AS
  SELECT key_id, organization_id, label, created_at, created_by, revoked_at, revoked_by
    FROM ingest_keys WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_ingest_keys TO auditlens_reader;
