-- run-as: login
-- 0057's wrappers are plpgsql, which the planner prices like one operator (cost 100 per call
-- on a row it must test): a seq scan testing every event looked cheaper than it is, so a
-- common term's count (up to 100,001 matches) read the whole table calling both wrappers on
-- each row (1.3 s at 9.8M events) instead of stopping early in a bitmap scan of the trigram
-- index (0.93 s). Priced at what they cost, the planner keeps the index for counts and rare
-- terms and still walks the time index for a common term's newest page (0.01 s).
-- Nothing to do where 0057 made nothing (no superuser, no pg_trgm); a later migration by a
-- role that is no longer a superuser leaves the planner's default price (plans only).
DO $$
BEGIN
  IF to_regprocedure('auditlens_text_ilike(text, text)') IS NOT NULL
     AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION auditlens_text_ilike(text, text) COST 1000;
    ALTER FUNCTION auditlens_details_text(jsonb) COST 1000;
  END IF;
END
$$;
