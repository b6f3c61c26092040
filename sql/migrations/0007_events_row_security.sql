-- Organisation scope for audit_events by row-level security, so the planner can use ordered
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
-- auditlens_org_scope (0006), whose only way to audit_events is the policy
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
-- TimescaleDB with the Timescale license keeps the security_barrier view of 0003: a
-- continuous aggregate cannot be created on a hypertable with row-level security (0023).
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
  -- A new owner starts with the default privileges: make them exactly what 0003 gave.
  REVOKE ALL ON org_audit_events FROM PUBLIC;
  GRANT SELECT ON org_audit_events TO auditlens_reader;
END
$rls$;
