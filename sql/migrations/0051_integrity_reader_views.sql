-- Export proofs are built in the reader's organisation-scoped session: the reader needs the
-- seal leaves of its own organisation (hashes and event ids only, nothing secret).
CREATE VIEW org_audit_seal_leaves WITH (security_barrier) AS
  SELECT * FROM audit_seal_leaves WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_audit_seal_leaves TO auditlens_reader;
