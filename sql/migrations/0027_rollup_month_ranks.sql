-- The busiest k rows of one UTC month of the month totals (0025), for the session's
-- organisation, in the order of their rank indexes: top-N's candidates (sql/read_model.py,
-- `_ranking`) read k index entries per month instead of every row of the month.
--
-- Why functions and not the org_rollup_*_months views: a security_barrier view is planned as
-- a subquery of its own, so an outer ORDER BY ... LIMIT cannot use the view's index order, and
-- the planner read and sorted every row of each month (~20,000 resources a month at 10M
-- events: ~20 ms a month through the view, ~0.1 ms on the table). SECURITY DEFINER to read the
-- table, with exactly the views' guard: only rows of auditlens_current_org(), which the
-- reader's own session sets (sql/gateway.py org_session); nothing without an organisation.
CREATE FUNCTION auditlens_top_user_months(month date, k integer)
RETURNS TABLE (user_id text, events bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.user_id, m.events FROM rollup_user_months m
   WHERE m.organization_id = auditlens_current_org() AND m.month = $1
   ORDER BY m.events DESC LIMIT $2
$$;

CREATE FUNCTION auditlens_top_resource_months(month date, k integer)
RETURNS TABLE (resource_type text, resource_id text, accesses bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.resource_type, m.resource_id, m.accesses FROM rollup_resource_months m
   WHERE m.organization_id = auditlens_current_org() AND m.month = $1
   ORDER BY m.accesses DESC LIMIT $2
$$;

REVOKE ALL ON FUNCTION auditlens_top_user_months(date, integer),
  auditlens_top_resource_months(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_top_user_months(date, integer),
  auditlens_top_resource_months(date, integer) TO auditlens_reader;
