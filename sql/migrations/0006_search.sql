-- run-as: login
-- Indexed search behind the readers' views. Readers reach events through security-barrier
-- views and row-level security (see the access migration), where a condition may drive an
-- index scan only if its functions are LEAKPROOF; only a superuser may declare LEAKPROOF (or
-- LANGUAGE internal), hence this runs as the login role and hands its objects to
-- auditlens_owner after.

-- Explore's `user:EMAIL` (the issue's own example, user:john@company.com) matches the user id
-- OR the lower-cased email; with an index on the id only, that OR scanned every event of the
-- organisation (~5 s at 10 million events). An index on lower(user_email) is never used
-- behind the views, as lower() is not marked LEAKPROOF. `user:EMAIL` (sql/event_filter.py)
-- therefore compares auditlens_fold_email(user_email):
-- lower() under a name marked LEAKPROOF (it maps every text to a text and raises nothing that
-- depends on the value), indexed beside (organisation, user, time) so the two are ORed as
-- bitmaps (~17 ms instead of ~5 s for a busy user at 10 million events). `user:ID` without
-- an @ does not test the email at all. A login that is not a superuser gets the same function
-- without the mark, which is as exact but scans; a superuser may apply this file again
-- later (OR REPLACE, IF NOT EXISTS) to add the mark and the text index.

DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    CREATE OR REPLACE FUNCTION auditlens_fold_email(email text) RETURNS text
      LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'lower';
  ELSE
    CREATE OR REPLACE FUNCTION auditlens_fold_email(email text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT lower(email)';
  END IF;
END $$;
ALTER FUNCTION auditlens_fold_email(text) OWNER TO auditlens_owner;
SET LOCAL ROLE auditlens_owner;

CREATE INDEX IF NOT EXISTS audit_events_org_email_fold
  ON audit_events (organization_id, auditlens_fold_email(user_email), event_time DESC);
RESET ROLE;

-- Explore's text terms (sql/event_filter.py) matched `details::text ILIKE '%term%'`, which at
-- 10 million events read every row of the organisation (past the 30 s statement limit). A
-- pg_trgm GIN index answers such a search from the trigrams of the term, but behind the
-- readers' views neither texticlike (ILIKE) nor the jsonb -> text cast (jsonb_out, textin) is
-- LEAKPROOF. So, as for emails above:
--
-- * auditlens_details_text(details): details::text under a LEAKPROOF name. It maps every
--   jsonb to its text and raises nothing that depends on the value (jsonb_out only formats
--   a value that jsonb_in already validated; the result is valid text by construction).
-- * auditlens_text_ilike(value, pattern) and its operator ~~~*: `value ILIKE pattern` (the
--   escape is ILIKE's default backslash, as the filter's `ESCAPE '\'` said), LEAKPROOF
--   because the only error ILIKE raises that could depend on the value -- "LIKE pattern must
--   not end with escape character", met only when matching reaches the pattern's end, i.e.
--   when the value matched everything before it -- is raised first, from the pattern alone.
--   Its other errors do not depend on the value either: the case folding of a valid text
--   cannot fail (the same argument as for lower() above), nondeterministic collations are
--   refused by collation, and stack depth grows with the pattern's %s only. The estimator
--   is ILIKE's own (iclikesel), so the planner weighs the term as it did before.
-- * auditlens_trgm_ops: a GIN operator class for text, pg_trgm's gin_trgm_ops with ~~~* as
--   its ILIKE strategy (4) and pg_trgm's own support functions, and the index
--   audit_events_details_trgm on auditlens_details_text(details) with it (created on the
--   partitioned parent it cascades to every partition; a hypertable takes it as well).
--
-- Both functions are plpgsql so that the planner does not inline them back into the leaky
-- expressions they wrap; that makes the planner price them like one operator (cost 100 per
-- call), so a seq scan testing every event looked cheaper than it is and a common term's
-- count read the whole table calling both on each row instead of stopping early in a bitmap
-- scan of the trigram index. COST 1000 prices them at what they cost: the planner keeps the
-- index for counts and rare terms and still walks the time index for a common term's newest
-- page. Only a superuser may declare LEAKPROOF, and only a superuser's migration can make the
-- index usable: without one, or without pg_trgm on the server, this block creates nothing, text search stays `ILIKE` (exact, but it reads every event of
-- the organisation), and sql/capabilities.py reports `trigram_search` false.
--
-- Cost: the index is about a quarter of the events' size and the build holds off inserts for
-- its duration (CREATE INDEX on a partitioned table cannot run CONCURRENTLY); ingest pays
-- most (GIN costs several b-trees' worth per row). GIN's pending list (fastupdate, on by
-- default) already batches new rows; a larger gin_pending_list_limit measured no better and
-- every search scans the pending list unindexed, so the server's default stands.
DO $$
DECLARE
  trgm_schema text;
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE NOTICE 'text search stays unindexed: LEAKPROOF needs a superuser migration';
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    RAISE NOTICE 'text search stays unindexed: the server has no pg_trgm';
    RETURN;
  END IF;
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pg_trgm';

  CREATE FUNCTION auditlens_details_text(details jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF COST 1000
    AS $f$ BEGIN RETURN details::text; END $f$;

  -- Not STRICT: a bad pattern raises for a NULL value too, so the error tells nothing of it.
  CREATE FUNCTION auditlens_text_ilike(value text, pattern text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE LEAKPROOF COST 1000
    AS $f$
    BEGIN
      -- An odd run of backslashes at the end leaves the last one escaping nothing.
      IF (length(pattern) - length(rtrim(pattern, '\'))) % 2 = 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_escape_sequence',
          MESSAGE = 'LIKE pattern must not end with escape character';
      END IF;
      RETURN value ILIKE pattern;
    END
    $f$;

  CREATE OPERATOR ~~~* (
    FUNCTION = auditlens_text_ilike, LEFTARG = text, RIGHTARG = text,
    RESTRICT = iclikesel, JOIN = iclikejoinsel
  );

  EXECUTE format($op$
    CREATE OPERATOR CLASS auditlens_trgm_ops FOR TYPE text USING gin AS
      OPERATOR 4 ~~~* (text, text),
      FUNCTION 1 btint4cmp (int4, int4),
      FUNCTION 2 %1$I.gin_extract_value_trgm (text, internal),
      FUNCTION 3 %1$I.gin_extract_query_trgm (text, internal, int2, internal, internal,
                                              internal, internal),
      FUNCTION 4 %1$I.gin_trgm_consistent (internal, int2, text, int4, internal, internal,
                                           internal, internal),
      FUNCTION 6 %1$I.gin_trgm_triconsistent (internal, int2, text, int4, internal,
                                              internal, internal),
      STORAGE int4
  $op$, trgm_schema);

  ALTER FUNCTION auditlens_details_text(jsonb) OWNER TO auditlens_owner;
  ALTER FUNCTION auditlens_text_ilike(text, text) OWNER TO auditlens_owner;
  ALTER OPERATOR ~~~* (text, text) OWNER TO auditlens_owner;

  -- A GIN build sorts its entries in maintenance_work_mem: 64MB (the default) flushes many
  -- times at millions of rows.
  SET LOCAL maintenance_work_mem = '512MB';
  SET LOCAL ROLE auditlens_owner;
  CREATE INDEX audit_events_details_trgm
    ON audit_events USING gin (auditlens_details_text(details) auditlens_trgm_ops);
  -- Statistics of the indexed text, which only ANALYZE gathers: without them the planner
  -- guessed 0.01% for every term and sorted a common one's 850,000 matches (level:error,
  -- 6-13 s) instead of reading the newest events in time order until 50 match (~0.2 s).
  ANALYZE audit_events;
  RESET ROLE;
END $$;
