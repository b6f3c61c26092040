-- Rollup rows are updated in place by every refresh (INSERT ... ON CONFLICT DO UPDATE), which
-- clears their pages' all-visible bits; reads that should be index-only (top resources'
-- day bitmaps, resource_users' covering index) then visit the heap again until a VACUUM.
-- The refresh vacuums after large batches only, and autovacuum's defaults wait for 20% of a
-- table to change: top resources measured ~50 ms right after a VACUUM, ~110 ms after a small
-- refresh at 10M events. Vacuum these tables after a thousand changed or inserted rows.
DO $$
DECLARE
  t text;
BEGIN
  FOR t IN
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'rollup\_%'
       AND c.relname <> 'rollup_state'
  LOOP
    EXECUTE format(
      'ALTER TABLE %I SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,'
      ' autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000)',
      t);
  END LOOP;
END
$$;
