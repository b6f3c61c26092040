-- run-as: login
-- TimescaleDB 2.27's internal drop_chunk, freeze_chunk and unfreeze_chunk check no privilege
-- of their own, and PUBLIC may execute them: auditlens_reader could drop a whole chunk of
-- every organisation's events, or freeze this week's chunk so that every insert fails.
-- create_chunk asks only for INSERT: a writer's chunk made that way and written directly
-- never meets the insert that gives a chunk its TRUNCATE trigger. Inserts create chunks
-- without calling any of these. Only the extension's owner can take them back, hence this
-- runs as the login role; a login that does not own the extension is told what to run.
DO $revoke$
DECLARE
  fn       regprocedure;
  owner    text;
  refused  text[] := ARRAY[]::text[];
BEGIN
  IF to_regnamespace('_timescaledb_functions') IS NULL THEN
    RETURN;  -- plain PostgreSQL: nothing to take back
  END IF;
  FOREACH fn IN ARRAY ARRAY(
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = '_timescaledb_functions'::regnamespace
       AND p.proname IN ('drop_chunk', 'freeze_chunk', 'unfreeze_chunk', 'create_chunk'))
  LOOP
    SELECT pg_get_userbyid(proowner) INTO owner FROM pg_proc WHERE oid = fn;
    IF pg_has_role(current_user, owner, 'USAGE') THEN
      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
    ELSE
      refused := refused || fn::text;
    END IF;
  END LOOP;
  IF cardinality(refused) > 0 THEN
    RAISE WARNING 'AuditLens: any role may still drop, freeze or make chunks through %', refused
      USING HINT = 'As the extension''s owner: REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC.';
  END IF;
END
$revoke$;
