-- The time span of the session organisation's events past the rollup watermark, for the read
-- model (sql/read_model.py): its first statement reads this, and its main statement, in the
-- same REPEATABLE READ snapshot, reads raw events past the watermark only inside the span, so
-- the planner prunes every partition outside it (and the read skips raw events past the
-- watermark altogether when there are none). Planning that branch over every partition of
-- the range and their indexes was most of a small read's cost (~3-5 ms of ~7-10 ms).
--
-- plpgsql, so the query's plan is cached per connection; a generic plan (it has no
-- parameters worth a custom plan: the watermark is a subquery) over every partition's
-- ingest_xid index. enable_seqscan off: a generic plan cannot see how few events are past
-- the watermark. OFFSET 0 keeps the planner from turning min/max into ordered scans of an
-- event_time index that stop at the first match: with nothing past the watermark, such a scan
-- would read the organisation's every event.
-- SECURITY INVOKER through org_audit_events: the caller's organisation scope applies.
CREATE FUNCTION auditlens_past_watermark_span(OUT first_time timestamptz,
                                              OUT last_time timestamptz)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
BEGIN
  SELECT min(p.t), max(p.t) INTO first_time, last_time
    FROM (SELECT e.event_time AS t FROM org_audit_events e
           WHERE e.ingest_xid >= (SELECT watermark FROM rollup_state WHERE name = 'events')
          OFFSET 0) p;
END
$$;

REVOKE ALL ON FUNCTION auditlens_past_watermark_span() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_past_watermark_span() TO auditlens_reader;
