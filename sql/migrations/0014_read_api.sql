-- Read keys for the read API (`GET /api/v1/events`, `/api/v1/findings` on the receiver):
-- like ingest keys, one bearer token per consumer bound to one organisation, stored as the
-- SHA-256 of a 256-bit random secret, but in a table of their own. A write key and a read
-- key are different rows of different tables, so neither can ever do the other's job, and
-- no scope column can be flipped to widen one.

CREATE TABLE read_keys (
  key_id          text        PRIMARY KEY CHECK (key_id ~ '^[a-z0-9]{12}$'),
  organization_id text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  secret_sha256   bytea       NOT NULL CHECK (length(secret_sha256) = 32),
  label           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text        NOT NULL,
  revoked_at      timestamptz,
  revoked_by      text
);
CREATE INDEX read_keys_org ON read_keys (organization_id);
REVOKE ALL ON read_keys FROM PUBLIC;

-- The receiver (as auditlens_writer, which records each read) may ask "which organisation
-- may this key read?" and nothing else: it never reads the hashes or lists keys.
CREATE FUNCTION auditlens_read_key_org(p_key_id text, p_secret_sha256 bytea) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT organization_id FROM read_keys
   WHERE key_id = p_key_id AND secret_sha256 = p_secret_sha256 AND revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION auditlens_read_key_org(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_read_key_org(text, bytea) TO auditlens_writer;

-- Readers see their organisation's read keys without the hashes.
CREATE VIEW org_read_keys WITH (security_barrier) AS
  SELECT key_id, organization_id, label, created_at, created_by, revoked_at, revoked_by
    FROM read_keys WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_read_keys TO auditlens_reader;
