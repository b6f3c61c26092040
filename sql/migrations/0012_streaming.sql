-- SIEM streaming: each organisation's destinations, with a durable cursor and health.
--
-- The cursor is a position in ingest order, (ingest_xid, ingest_seq): every event of the
-- organisation at or before it was acknowledged by the receiver. ingest_seq alone is not a
-- safe cursor: the sequence hands each session a block of numbers, and a transaction can
-- commit after another that took higher numbers, so a cursor on it could step over an event
-- that becomes visible later. The streamer reads only events whose ingest_xid lies below the
-- oldest running transaction (as the rollup refresh and sealing do), so nothing can appear
-- behind the cursor once it has moved.
CREATE TABLE stream_destinations (
  organization_id      text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  name                 text        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  kind                 text        NOT NULL CHECK (kind IN ('syslog', 'https', 'file')),
  payload              text        NOT NULL CHECK (payload IN ('json', 'ocsf', 'cef')),
  -- Where and how: host/port/tls/ca_file for syslog, url/style/header/ca_file for https,
  -- path/max_bytes/max_seconds for files. Checked by streaming/destinations.py.
  settings             jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- The bearer token, API key or HMAC key the receiver expects; readers never see it.
  secret               text,
  query                text        NOT NULL DEFAULT '',  -- Explore syntax; '' sends every event
  state                text        NOT NULL DEFAULT 'active'
                       CHECK (state IN ('active', 'paused', 'failing')),
  cursor_xid           xid8        NOT NULL,
  cursor_seq           bigint      NOT NULL DEFAULT 0,
  -- A backfill re-sends the events from backfill_from (event time) that lie at or before
  -- the position the cursor had when it was asked for; after that position, every event.
  backfill_from        timestamptz,
  backfill_until_xid   xid8,
  backfill_until_seq   bigint,
  events_sent          bigint      NOT NULL DEFAULT 0,
  -- Findings (when `findings`) have a cursor of their own, over stream_finding_order below.
  findings             boolean     NOT NULL DEFAULT true,
  finding_cursor_xid   xid8        NOT NULL,
  finding_cursor_seq   bigint      NOT NULL DEFAULT 0,
  findings_sent        bigint      NOT NULL DEFAULT 0,
  consecutive_failures integer     NOT NULL DEFAULT 0,
  failures_total       bigint      NOT NULL DEFAULT 0,
  last_success_at      timestamptz,
  last_error           text,
  last_error_at        timestamptz,
  next_attempt_at      timestamptz,  -- retry backoff: not before this
  created_by           text        NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, name),
  CHECK ((backfill_from IS NULL) = (backfill_until_xid IS NULL))
);

-- Readers see their organisation's destinations (never the secret) under row-level
-- security; the streamer and the commands change them as the login role, like holds.
REVOKE ALL ON stream_destinations FROM PUBLIC;
ALTER TABLE stream_destinations ENABLE ROW LEVEL SECURITY;
CREATE POLICY stream_destinations_org_scope ON stream_destinations FOR SELECT
  TO auditlens_reader USING (organization_id = auditlens_current_org());
GRANT SELECT (organization_id, name, kind, payload, settings, query, state, cursor_xid,
  cursor_seq, backfill_from, backfill_until_xid, backfill_until_seq, events_sent, findings,
  finding_cursor_xid, finding_cursor_seq, findings_sent,
  consecutive_failures, failures_total, last_success_at, last_error, last_error_at,
  next_attempt_at, created_by, created_at)
  ON stream_destinations TO auditlens_reader;

-- Findings in ingest order: findings carry no transaction id of their own, so each new one
-- gets a row here from the inserting transaction (a trigger), and the streamer reads them
-- below the same watermark as events, by (finding_xid, finding_seq).
CREATE TABLE stream_finding_order (
  organization_id text   NOT NULL,
  finding_id      text   NOT NULL,
  finding_xid     xid8   NOT NULL DEFAULT pg_current_xact_id(),
  finding_seq     bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (organization_id, finding_id)
);
CREATE INDEX stream_finding_order_xid ON stream_finding_order (finding_xid, finding_seq);
INSERT INTO stream_finding_order (organization_id, finding_id)
  SELECT organization_id, finding_id FROM findings ORDER BY created_at, finding_id;

CREATE FUNCTION stream_finding_order_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO stream_finding_order (organization_id, finding_id)
  VALUES (NEW.organization_id, NEW.finding_id);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION stream_finding_order_add() FROM PUBLIC;
CREATE TRIGGER stream_finding_order_add AFTER INSERT ON findings
  FOR EACH ROW EXECUTE FUNCTION stream_finding_order_add();

REVOKE ALL ON stream_finding_order FROM PUBLIC;
ALTER TABLE stream_finding_order ENABLE ROW LEVEL SECURITY;
CREATE POLICY stream_finding_order_org_scope ON stream_finding_order FOR SELECT
  TO auditlens_reader USING (organization_id = auditlens_current_org());
GRANT SELECT ON stream_finding_order TO auditlens_reader;

-- The oldest transaction still running that can write to this database: the bound below
-- which ingest-order readers (streaming, the read API) may read, since every transaction below
-- it has ended. pg_snapshot_xmin(pg_current_snapshot()) is the same over the whole server, so
-- a long transaction in any other database (or a forgotten prepared one there) held every
-- reader back for as long as it ran; those are left out here. A running transaction is left
-- out only when pg_stat_activity or pg_prepared_xacts places it in another database; one they
-- cannot place (it started after their snapshot, say) still bounds the read, which is safe.
CREATE FUNCTION auditlens_oldest_running() RETURNS xid8
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH here AS (SELECT oid FROM pg_database WHERE datname = current_database()),
  elsewhere AS (
    SELECT backend_xid::text::numeric AS xid FROM pg_stat_activity
     WHERE backend_xid IS NOT NULL AND datid <> (SELECT oid FROM here)
    UNION ALL
    SELECT transaction::text::numeric FROM pg_prepared_xacts
     WHERE database <> current_database()
  ),
  snap AS (SELECT pg_current_snapshot() AS s)
  SELECT coalesce(
           (SELECT min(x) FROM pg_snapshot_xip((SELECT s FROM snap)) AS x
             -- pg_stat_activity shows 32-bit xids: an xid8's low 32 bits.
             WHERE (x::text::numeric % 4294967296) NOT IN (SELECT xid FROM elsewhere)),
           pg_snapshot_xmax((SELECT s FROM snap)))
$$;
REVOKE ALL ON FUNCTION auditlens_oldest_running() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_oldest_running() TO auditlens_reader, auditlens_writer;

-- A streaming batch: the session's organisation's next events after a position in ingest
-- order, below the oldest running transaction of this database (auditlens_oldest_running), in that
-- order, at most `lim`. A function because with the Timescale license org_audit_events is a
-- security-barrier view (TimescaleDB refuses row-level security with compression), planned as
-- a subquery of its own: ORDER BY ... LIMIT over it read and sorted every event after the
-- cursor (all of a bulk import's) for each batch. SECURITY DEFINER to read the table with
-- exactly the view's guard (only rows of auditlens_current_org(), none without one), so the
-- read walks the (organization_id, ingest_xid, ingest_seq) index and stops after `lim` rows.
-- The organisation as a scalar subquery, which TimescaleDB also pushes into the scan of
-- compressed batches (see org_audit_events).
CREATE FUNCTION auditlens_events_after(c_xid xid8, c_seq bigint, lim integer)
RETURNS SETOF audit_events
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  SELECT * FROM public.audit_events e
   WHERE e.organization_id = (SELECT public.auditlens_current_org())
     AND (e.ingest_xid, e.ingest_seq) > (c_xid, c_seq)
     AND e.ingest_xid < public.auditlens_oldest_running()
   ORDER BY e.ingest_xid, e.ingest_seq
   LIMIT lim
$$;
REVOKE ALL ON FUNCTION auditlens_events_after(xid8, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_events_after(xid8, bigint, integer) TO auditlens_reader;
