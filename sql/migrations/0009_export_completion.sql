-- A download cut off partway still let rows out: it is recorded too, as not completed, with
-- the rows and the SHA-256 of what was handed to the client (at most that much arrived).
-- Rows written before this migration were all completed exports.
ALTER TABLE audit_exports ADD COLUMN completed boolean NOT NULL DEFAULT true;
-- `SELECT *` of a view is expanded when it is made: redefine it so readers see the column.
CREATE OR REPLACE VIEW org_audit_exports WITH (security_barrier) AS
  SELECT * FROM audit_exports WHERE organization_id = auditlens_current_org();
