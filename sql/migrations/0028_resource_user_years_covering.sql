-- Top resources counts the distinct users of each winner from rollup_resource_user_years:
-- every (user, year) row of the resource with its day bitmap (~3,600 rows for each of the 10
-- busiest sources at 10M events). Those rows lie scattered over the heap (a refresh adds them
-- in whatever order its delta groups), so the read fetched one heap page per row (~37,000 page
-- visits for the 10 winners). Its unique key becomes a unique index that also carries the
-- bitmap (INCLUDE): an index-only scan reads each winner's rows side by side (~1 ms a winner
-- instead of ~5). The same key, so the refresh's ON CONFLICT target is unchanged; an update
-- of `days` is no longer HOT (the index holds it), a small cost on a table of ~130,000 rows.
CREATE UNIQUE INDEX rollup_resource_user_years_key
  ON rollup_resource_user_years (organization_id, resource_id, resource_type, year, user_id)
  INCLUDE (days) NULLS NOT DISTINCT;

DO $drop$
DECLARE
  old text;
BEGIN
  -- 0024's constraint, by whatever name the server truncated it to.
  SELECT conname INTO STRICT old FROM pg_constraint
   WHERE conrelid = 'rollup_resource_user_years'::regclass AND contype = 'u';
  EXECUTE format('ALTER TABLE rollup_resource_user_years DROP CONSTRAINT %I', old);
END
$drop$;
