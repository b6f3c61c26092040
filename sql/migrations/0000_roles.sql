-- run-as: login
-- Roles are cluster-wide, so this runs as the login role (which needs CREATEROLE) and
-- tolerates a concurrent migration of another database creating them first.
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
END
$roles$;

-- The owner creates every object; PostgreSQL 15 no longer lets PUBLIC create in public.
GRANT USAGE, CREATE ON SCHEMA public TO auditlens_owner;
GRANT USAGE ON SCHEMA public TO auditlens_writer, auditlens_reader;
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
END
$grant$;
