-- Tamper evidence: signed, chained seals over what each organisation received.
-- The signing key never enters the database; these tables hold only what anyone may see.

-- One seal per organisation and sealing run: events with ingest_xid in [xid_from, xid_to),
-- where xid_to is the sealing transaction's snapshot xmin, so an event is sealed once its
-- inserting transaction has ended, and exactly once. The canonical text that is signed is
-- rebuilt from these columns (integrity/seal.py documents it).
CREATE TABLE audit_seals (
  organization_id  text        NOT NULL,
  seal_seq         bigint      NOT NULL CHECK (seal_seq >= 1),
  format           text        NOT NULL,
  sealed_at        timestamptz NOT NULL,
  prev_seal_hash   bytea       NOT NULL CHECK (octet_length(prev_seal_hash) = 32),
  xid_from         xid8        NOT NULL,
  xid_to           xid8        NOT NULL,
  event_count      bigint      NOT NULL CHECK (event_count >= 0),
  merkle_root      bytea       NOT NULL CHECK (octet_length(merkle_root) = 32),
  index_digest     bytea       NOT NULL CHECK (octet_length(index_digest) = 32),
  first_ingest_seq bigint,
  last_ingest_seq  bigint,
  oldest_event     timestamptz,
  newest_event     timestamptz,
  key_id           text        NOT NULL,
  seal_hash        bytea       NOT NULL CHECK (octet_length(seal_hash) = 32),
  signature        bytea       NOT NULL,
  PRIMARY KEY (organization_id, seal_seq)
);
COMMENT ON TABLE audit_seals IS
  'append-only chain of signed seals per organisation; verify with auditlens verify';

-- The seal's leaves in Merkle order, so verify can name the event that changed:
-- `entries` is 48 bytes per event (ingest_seq int8, retention guarantee in microseconds since
-- 1970 int8, leaf hash 32 bytes), `event_ids` names them; chunks of at most 65,536 events keep
-- rows small. The seal signs a digest of both (its index_digest).
-- event_ids is one bytea (each id in UTF-8 followed by a NUL byte, the exact bytes its index
-- digest hashes), not text[]: moving 65,536-element arrays through the driver cost more than
-- computing the seal.
CREATE TABLE audit_seal_leaves (
  organization_id text    NOT NULL,
  seal_seq        bigint  NOT NULL,
  chunk_no        integer NOT NULL,
  entries         bytea   NOT NULL,
  event_ids       bytea   NOT NULL,
  PRIMARY KEY (organization_id, seal_seq, chunk_no)
);
COMMENT ON COLUMN audit_seal_leaves.event_ids IS
  'each event id in UTF-8 followed by a NUL byte, in leaf order';
-- Leaf chunks are megabytes of SHA-256 hashes with small counters between them: pglz finds
-- just enough repetition to try compressing all of it, which cost more than building the
-- seal. Stored out of line, uncompressed.
ALTER TABLE audit_seal_leaves
  ALTER COLUMN entries SET STORAGE EXTERNAL,
  ALTER COLUMN event_ids SET STORAGE EXTERNAL;

-- Events removed by the retention purge (sql/retention.py records them), so what remains
-- still verifies: a sealed event that is gone must have a record here dated after its
-- retention guarantee.
CREATE TABLE audit_purged_events (
  purged_event_id bigint GENERATED ALWAYS AS IDENTITY,
  organization_id text        NOT NULL,
  ingest_seq      bigint      NOT NULL,
  purged_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, purged_event_id)
);
CREATE INDEX audit_purged_events_org_seq ON audit_purged_events (organization_id, ingest_seq);

-- Every verification run and what it found, for the dashboard's Integrity page.
CREATE TABLE audit_verifications (
  verification_id bigint GENERATED ALWAYS AS IDENTITY,
  organization_id text        NOT NULL,
  started_at      timestamptz NOT NULL,
  finished_at     timestamptz NOT NULL DEFAULT now(),
  actor           text        NOT NULL,
  range_from      timestamptz,
  range_to        timestamptz,
  key_ids         text[]      NOT NULL,
  seals_checked   bigint      NOT NULL,
  events_checked  bigint      NOT NULL,
  pending_events  bigint      NOT NULL,
  last_seal_seq   bigint,
  last_seal_hash  bytea,
  clean           boolean     NOT NULL,
  problem_count   bigint      NOT NULL,
  findings        jsonb       NOT NULL,  -- [{kind, seal_seq, event_id, detail}], capped
  PRIMARY KEY (organization_id, verification_id)
);
CREATE INDEX audit_verifications_org_time ON audit_verifications (organization_id, finished_at DESC);

-- Append-only, loudly, like audit_events: evidence is never changed in place.
CREATE FUNCTION audit_integrity_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Seals and their records are evidence; they are never changed.';
END
$$;

DO $triggers$
DECLARE
  tbl text;
BEGIN
  FOREACH tbl IN ARRAY ARRAY['audit_seals', 'audit_seal_leaves', 'audit_purged_events',
                             'audit_verifications'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                   'EXECUTE FUNCTION audit_integrity_reject_change()', tbl || '_no_change', tbl);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                   'EXECUTE FUNCTION audit_integrity_reject_change()', tbl || '_no_truncate', tbl);
    EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', tbl);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM auditlens_owner', tbl);
  END LOOP;
END
$triggers$;

CREATE VIEW org_audit_seals WITH (security_barrier) AS
  SELECT * FROM audit_seals WHERE organization_id = auditlens_current_org();
CREATE VIEW org_audit_verifications WITH (security_barrier) AS
  SELECT * FROM audit_verifications WHERE organization_id = auditlens_current_org();
CREATE VIEW org_audit_purged_events WITH (security_barrier) AS
  SELECT * FROM audit_purged_events WHERE organization_id = auditlens_current_org();
-- Export proofs are built in the reader's organisation-scoped session: the reader needs the
-- seal leaves of its own organisation (hashes and event ids only, nothing secret).
CREATE VIEW org_audit_seal_leaves WITH (security_barrier) AS
  SELECT * FROM audit_seal_leaves WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_audit_seals, org_audit_verifications, org_audit_purged_events,
  org_audit_seal_leaves TO auditlens_reader;
