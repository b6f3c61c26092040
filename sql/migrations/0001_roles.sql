-- run-as: login
-- Roles are cluster-wide, so this runs as the login role (which needs CREATEROLE) and
-- tolerates a concurrent migration of another database creating them first.
--
-- auditlens_org_scope owns the org_audit_events view and is the one role that row-level
-- security on audit_events scopes to the session's organisation (see the access migration).
-- It never logs in, owns no table (table owners bypass row-level security) and may not
-- bypass it.
DO $roles$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['auditlens_owner', 'auditlens_writer', 'auditlens_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database's migration created it between our check and CREATE
      END;
    END IF;
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditlens_org_scope') THEN
    BEGIN
      CREATE ROLE auditlens_org_scope NOLOGIN NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END
$roles$;

-- The owner creates every object; PostgreSQL 15 no longer lets PUBLIC create in public.
GRANT USAGE, CREATE ON SCHEMA public TO auditlens_owner;
GRANT USAGE ON SCHEMA public TO auditlens_writer, auditlens_reader;
-- A role that owns a view needs CREATE on its schema (ALTER VIEW .. OWNER checks it). Only
-- the owner roles are members of auditlens_org_scope, and they have CREATE already.
GRANT CREATE ON SCHEMA public TO auditlens_org_scope;
-- The login role running migrations must be able to act as the owner.
DO $grant$
BEGIN
  IF NOT pg_has_role(current_user, 'auditlens_owner', 'MEMBER') THEN
    EXECUTE format('GRANT auditlens_owner TO %I', current_user);
  END IF;
  IF NOT pg_has_role(current_user, 'auditlens_writer', 'MEMBER') THEN
    EXECUTE format('GRANT auditlens_writer TO %I', current_user);
  END IF;
  IF NOT pg_has_role(current_user, 'auditlens_reader', 'MEMBER') THEN
    EXECUTE format('GRANT auditlens_reader TO %I', current_user);
  END IF;
  -- The owner hands the view to auditlens_org_scope (ALTER VIEW .. OWNER needs membership)
  -- and keeps managing it.
  IF NOT pg_has_role('auditlens_owner', 'auditlens_org_scope', 'MEMBER') THEN
    GRANT auditlens_org_scope TO auditlens_owner;
  END IF;
END
$grant$;
