-- run-as: login
-- 0042's index on lower(user_email) is never used: readers reach events through
-- security-barrier views (0003) under row-level security (0007), where a condition may drive
-- an index scan only if its functions are LEAKPROOF, and lower() is not marked so. Explore's
-- `user:EMAIL` (sql/event_filter.py) therefore compares auditlens_fold_email(user_email):
-- lower() under a name marked LEAKPROOF (it maps every text to a text and raises nothing that
-- depends on the value), indexed beside (organisation, user, time) so the two are ORed as
-- bitmaps (~17 ms instead of ~5 s for a busy user at 10 million events).
-- Only a superuser may declare LEAKPROOF (or LANGUAGE internal), hence run as the login role
-- (objects handed to auditlens_owner after): a login that is not a superuser gets the same
-- function without the mark, which is as exact but scans.
SET LOCAL ROLE auditlens_owner;
DROP INDEX audit_events_org_email_time;
RESET ROLE;

DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    CREATE FUNCTION auditlens_fold_email(email text) RETURNS text
      LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'lower';
  ELSE
    CREATE FUNCTION auditlens_fold_email(email text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT lower(email)';
  END IF;
END $$;
ALTER FUNCTION auditlens_fold_email(text) OWNER TO auditlens_owner;
SET LOCAL ROLE auditlens_owner;

CREATE INDEX audit_events_org_email_fold
  ON audit_events (organization_id, auditlens_fold_email(user_email), event_time DESC);
RESET ROLE;
