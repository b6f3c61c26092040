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
GRANT EXECUTE ON FUNCTION audit_ensure_partitions(timestamptz[]) TO auditlens_writer;
REVOKE ALL ON FUNCTION audit_purge_expired(timestamptz) FROM PUBLIC;

-- Readers never touch base tables: each view shows the rows of the organisation set for the
-- session (auditlens.organization_id) and nothing when none is set. Views rather than
-- row-level security because TimescaleDB cannot build continuous aggregates on a hypertable
-- with RLS and its chunks do not inherit policies; views hold for every server alike.
CREATE VIEW org_audit_events WITH (security_barrier) AS
  SELECT * FROM audit_events WHERE organization_id = auditlens_current_org();
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
