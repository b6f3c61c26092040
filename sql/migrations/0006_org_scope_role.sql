-- run-as: login
-- auditlens_org_scope owns the org_audit_events view (0007) and is the one role that row-level
-- security on audit_events scopes to the session's organisation. It never logs in, owns no
-- table (table owners bypass row-level security) and may not bypass it. Roles are
-- cluster-wide, so, as in 0000, a concurrent migration of another database may create it first.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditlens_org_scope') THEN
    BEGIN
      CREATE ROLE auditlens_org_scope NOLOGIN NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  -- The owner hands the view to this role (ALTER VIEW .. OWNER needs membership) and keeps
  -- managing it in later migrations.
  IF NOT pg_has_role('auditlens_owner', 'auditlens_org_scope', 'MEMBER') THEN
    GRANT auditlens_org_scope TO auditlens_owner;
  END IF;
END
$roles$;

-- A role that owns a view needs CREATE on its schema (ALTER VIEW .. OWNER checks it). Only
-- the owner roles are members of auditlens_org_scope, and they have CREATE already.
GRANT CREATE ON SCHEMA public TO auditlens_org_scope;
