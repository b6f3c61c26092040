-- Ingest keys for the HTTP receiver: one bearer token per producer, bound to one
-- organisation. Only a SHA-256 of the token's 256-bit random secret is stored: a fast hash is
-- enough for a random secret (argon2 is for guessable passwords) and keeps every request cheap.

CREATE TABLE ingest_keys (
  key_id          text        PRIMARY KEY CHECK (key_id ~ '^[a-z0-9]{12}$'),
  organization_id text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  secret_sha256   bytea       NOT NULL CHECK (length(secret_sha256) = 32),
  label           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text        NOT NULL,
  revoked_at      timestamptz,
  revoked_by      text
);
CREATE INDEX ingest_keys_org ON ingest_keys (organization_id);
REVOKE ALL ON ingest_keys FROM PUBLIC;

-- The receiver (as auditlens_writer) may ask "which organisation does this key serve?" and
-- nothing else: it never reads the hashes or lists keys.
CREATE FUNCTION auditlens_ingest_key_org(p_key_id text, p_secret_sha256 bytea) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT organization_id FROM ingest_keys
   WHERE key_id = p_key_id AND secret_sha256 = p_secret_sha256 AND revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION auditlens_ingest_key_org(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auditlens_ingest_key_org(text, bytea) TO auditlens_writer;

-- Readers see their organisation's keys without the hashes.
CREATE VIEW org_ingest_keys WITH (security_barrier) AS
  SELECT key_id, organization_id, label, created_at, created_by, revoked_at, revoked_by
    FROM ingest_keys WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_ingest_keys TO auditlens_reader;
