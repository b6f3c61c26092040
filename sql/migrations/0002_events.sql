-- The append-only audit store. The runner executes each migration as auditlens_owner
-- (SET ROLE), so every object here is owned by that role, and sets the GUC
-- auditlens.capability ('postgres', 'timescale_apache' or 'timescale_full') for the branches
-- that differ between plain PostgreSQL and TimescaleDB.

-- Organisation scope for readers: NULL (so: no rows) unless the session set it.
CREATE FUNCTION auditlens_current_org() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(current_setting('auditlens.organization_id', true), '')
$$;

CREATE TABLE organizations (
  organization_id text PRIMARY KEY CHECK (length(organization_id) BETWEEN 1 AND 128),
  name            text,
  time_zone       text NOT NULL DEFAULT 'UTC',
  -- Working hours in the organisation's own time zone; rollups count events outside them.
  work_start_hour smallint NOT NULL DEFAULT 8 CHECK (work_start_hour BETWEEN 0 AND 23),
  work_end_hour   smallint NOT NULL DEFAULT 19 CHECK (work_end_hour BETWEEN 1 AND 24),
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE audit_events_ingest_seq AS bigint CACHE 1000;

DO $migration$
DECLARE
  columns text := $cols$
    organization_id            text        NOT NULL,
    id                         text        NOT NULL,
    event_time                 timestamptz NOT NULL,
    event_type                 text        NOT NULL,
    event_action               text        NOT NULL,
    user_id                    text,
    user_email                 text,
    ip_address                 inet,
    user_agent                 text,
    resource_type              text,
    resource_id                text,
    details                    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    session_id                 text,
    -- Set by the server on every insert (audit_events_server_columns, with the guarantees),
    -- whatever the writer sends: sealing, verification and retention trust them.
    received_at                timestamptz NOT NULL,
    retention_guaranteed_until timestamptz NOT NULL,
    ingest_seq                 bigint      NOT NULL,
    ingest_xid                 xid8        NOT NULL,
    -- AuditLens's own use (the meta-audit: dashboard searches, views, exports, triage), set
    -- by the server from what record_event declares, never from what a producer sends; the
    -- analysed organisation's charts, counts, rollups and detection leave these rows out.
    own_use                    boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (organization_id, id, event_time)
  $cols$;
BEGIN
  IF current_setting('auditlens.capability') = 'postgres' THEN
    EXECUTE 'CREATE TABLE audit_events (' || columns || ') PARTITION BY RANGE (event_time)';
  ELSE
    EXECUTE 'CREATE TABLE audit_events (' || columns || ')';
    PERFORM create_hypertable('audit_events', by_range('event_time', INTERVAL '7 days'));
  END IF;
END
$migration$;

COMMENT ON COLUMN audit_events.event_time IS 'the event''s own time (wire name: timestamp)';
COMMENT ON COLUMN audit_events.ingest_seq IS 'total ingest order, for display and sealing';
COMMENT ON COLUMN audit_events.ingest_xid IS
  'inserting transaction; watermarks advance only past ended transactions, so late commits count once';

-- Why each index exists (every index slows ingest, so each must serve a named query):
-- the primary key makes a re-sent event a no-op and leads with the organisation (Citus-ready);
-- (org, time): overview paging and Explore's newest-first table;
CREATE INDEX audit_events_org_time ON audit_events (organization_id, event_time DESC);
-- (org, user, time): a user's drill-down and the 100 events of one user-day;
CREATE INDEX audit_events_org_user_time ON audit_events (organization_id, user_id, event_time DESC);
-- (org, resource, time): the compliance report "who accessed RESOURCE between FROM and TO";
CREATE INDEX audit_events_org_resource_time
  ON audit_events (organization_id, resource_type, resource_id, event_time);
-- (org, family, time): config-change history and family filters over rare families;
CREATE INDEX audit_events_org_type_time ON audit_events (organization_id, event_type, event_time DESC);
-- (org, session): "the session's other events" in the event detail;
CREATE INDEX audit_events_org_session ON audit_events (organization_id, session_id)
  WHERE session_id IS NOT NULL;
-- ingest_xid: rollup and seal watermarks read only what arrived since the last run.
CREATE INDEX audit_events_ingest_xid ON audit_events (ingest_xid);
-- (org, ingest_xid, ingest_seq): a streaming destination reads the next batch after its cursor
-- straight from the index, its organisation's events only (through ingest_xid alone, each
-- batch read and sorted every event of the cursor's transaction, and walked every other
-- organisation's events after the cursor).
CREATE INDEX audit_events_org_ingest ON audit_events (organization_id, ingest_xid, ingest_seq);
-- (org, action, time) and (org, ip, time): Explore's `action:` and `ip:` filters over millions
-- of events; without them each open scanned the organisation's events (action:export 4.7 s,
-- one IP address 22 s at 10M events). Both columns are compared with LEAKPROOF operators
-- (texteq; inet's >= and <=, to which EventFilter narrows a CIDR before its exact <<= test),
-- so these indexes are usable behind the readers' security-barrier views.
CREATE INDEX audit_events_org_action_time
  ON audit_events (organization_id, event_action, event_time DESC);
CREATE INDEX audit_events_org_ip_time
  ON audit_events (organization_id, ip_address, event_time DESC);
-- Config changes that may switch something off or on: what "Disabled and never re-enabled"
-- judges over an organisation's whole config history. Their action verb (the first word of
-- the action, lower case, "-" read as "_") is an off or on verb, the action is not plain
-- ASCII (PostgreSQL's and Python's lower case may differ there), or the details text names a
-- switch field and an "off" value anywhere, whatever the case (so escaped text such as `\toff`
-- still matches; 0 only with no digit or point beside it, so a threshold of 50 is none).
-- A superset of what dashboard/config_changes.py's is_disabling and is_enabling accept (its
-- tests hold the two together); Python judges each candidate exactly.
CREATE FUNCTION auditlens_may_switch(action text, details jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT split_part(replace(lower(action), '-', '_'), '_', 1) IN (
           'disable', 'deactivate', 'pause', 'mute', 'suspend', 'revoke',
           'enable', 'activate', 'resume', 'unmute', 'unpause', 'reactivate')
      OR action ~ '[^\x01-\x7f]'
      OR (details::text ~* 'enabled|active|is_enabled|isEnabled|status|state'
          AND details::text ~* 'disabled|false|inactive|muted|no|off|paused|(^|[^0-9.])0($|[^0-9.])')
$$;
-- (org, time) of those candidates, with what judging them needs but the details: the page
-- walks a third of the config changes in the index alone, where it read every config
-- change's row (scattered over the table: seconds on cold caches), and then reads the rows of
-- only the changes still in question. The page's query spells this predicate as written here,
-- or the planner cannot prove the index applies.
CREATE INDEX audit_events_org_switch_changes
  ON audit_events (organization_id, event_time DESC)
  INCLUDE (id, event_action, resource_type, resource_id)
  WHERE event_type = 'config_change' AND NOT own_use
    AND auditlens_may_switch(event_action, details);
-- The email and text-search indexes need a superuser's LEAKPROOF functions: see the search
-- migration.

-- Dead letters: every rejected input is kept with its reason, never silently dropped.
CREATE TABLE audit_rejects (
  reject_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id text,
  received_at     timestamptz NOT NULL DEFAULT now(),
  source          text        NOT NULL,  -- e.g. 'http', 'sdk', 'import:events.jsonl'
  line_no         bigint,                -- position in the file or batch, when there is one
  field           text,                  -- the field the reason names, when there is one
  reason          text        NOT NULL,
  raw_payload     bytea       NOT NULL,  -- bytes as received: may hold NULs text cannot
  -- Replaying a spool segment can run a batch twice (its first run committed, a later batch
  -- of the same segment failed, so the segment stays and is replayed whole). Events are
  -- no-ops the second time (their primary key); a spooled line's reject carries a key naming
  -- its segment (a random token in the file name) and its line, and the writer records it
  -- with ON CONFLICT DO NOTHING.
  replay_key      text
);
CREATE INDEX audit_rejects_org_time ON audit_rejects (organization_id, received_at DESC);
CREATE UNIQUE INDEX audit_rejects_replay_key ON audit_rejects (replay_key)
  WHERE replay_key IS NOT NULL;

-- Exports are rows here (the request's exported/export_timestamp), because events never change.
CREATE TABLE audit_exports (
  export_id          bigint GENERATED ALWAYS AS IDENTITY,
  organization_id    text        NOT NULL,
  exported_by        text        NOT NULL,
  exported_at        timestamptz NOT NULL DEFAULT now(),
  export_kind        text        NOT NULL,  -- 'events', 'access_report', 'findings', ...
  export_format      text        NOT NULL,  -- 'csv', 'ndjson', 'html', ...
  filter             jsonb       NOT NULL,
  filter_text        text        NOT NULL,  -- the filter in words, as printed on the export
  row_count          bigint      NOT NULL,
  sha256             text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  flagged_for_review boolean     NOT NULL DEFAULT false,
  -- A download cut off partway still let rows out: it is recorded too, as not completed,
  -- with the rows and the SHA-256 of what was handed to the client (at most that much arrived).
  completed          boolean     NOT NULL DEFAULT true,
  -- Written ahead: a streamed export's row exists before its first byte leaves (no rows, the
  -- SHA-256 of nothing, not completed) and gets its outcome once, when it ends. NULL while it
  -- runs; still NULL afterwards means it began and its outcome is unknown.
  ended_at           timestamptz,
  -- Every key of an organisation's table leads with its organisation: the schema can be
  -- distributed by organisation (docs/scaling.md), and a lookup by id names its organisation.
  PRIMARY KEY (organization_id, export_id)
);
CREATE INDEX audit_exports_org_time ON audit_exports (organization_id, exported_at DESC);
