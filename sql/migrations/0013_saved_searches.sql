-- Saved searches and the alerts made from them. A saved search is an Explore query kept under
-- a name (private to its owner, or shared with the organisation); an alert evaluates one as a
-- rule of detection's engine (the `search` kind), stored here per organisation instead of in
-- a rule file. Only the login role (db.admin()) writes, and every write is audited by the
-- caller in the same transaction (sql/saved_searches.py, sql/search_alerts.py).

CREATE TABLE saved_searches (
  organization_id text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  search_id       bigint      GENERATED ALWAYS AS IDENTITY,
  -- Shown on one line in lists and commands: no control characters.
  name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200
                                              AND name !~ '[[:cntrl:]]'),
  -- The name normalised (NFKC) and folded by Python's casefold() (sql.saved_searches.name_key):
  -- lower() here would fold only ASCII under a C locale and normalise nothing, and two names a
  -- person reads as one would both pass.
  name_key        text        NOT NULL CHECK (length(name_key) BETWEEN 1 AND 800),
  description     text        NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  query           text        NOT NULL CHECK (length(query) <= 4000),
  owner           text        NOT NULL CHECK (length(owner) BETWEEN 1 AND 320),
  visibility      text        NOT NULL CHECK (visibility IN ('private', 'shared')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  updated_by      text        NOT NULL CHECK (length(updated_by) BETWEEN 1 AND 320),
  -- Deleting keeps the row (its alerts' findings still name it) and frees the name.
  deleted_at      timestamptz,
  deleted_by      text,
  CHECK ((deleted_at IS NULL) = (deleted_by IS NULL)),
  -- Led by the organisation: the schema distributes by it (docs/scaling.md).
  PRIMARY KEY (organization_id, search_id)
);
CREATE UNIQUE INDEX saved_searches_org_name ON saved_searches (organization_id, name_key)
  WHERE deleted_at IS NULL;

CREATE TABLE search_alerts (
  organization_id text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  alert_id        bigint      GENERATED ALWAYS AS IDENTITY,
  search_id       bigint      NOT NULL,
  -- any: every match; count: more than `threshold` matches within `window_minutes`;
  -- per_user: more than `threshold` matches by one user within `window_minutes`.
  condition       text        NOT NULL CHECK (condition IN ('any', 'count', 'per_user')),
  threshold       integer     NOT NULL DEFAULT 0 CHECK (threshold BETWEEN 0 AND 1000000),
  window_minutes  integer     NOT NULL DEFAULT 60 CHECK (window_minutes BETWEEN 1 AND 43200),
  severity        text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  -- Off until someone has seen its dry run and switched it on.
  enabled         boolean     NOT NULL DEFAULT false,
  created_by      text        NOT NULL CHECK (length(created_by) BETWEEN 1 AND 320),
  created_at      timestamptz NOT NULL DEFAULT now(),
  switched_by     text,
  switched_at     timestamptz,
  CHECK ((switched_at IS NULL) = (switched_by IS NULL)),
  CHECK (condition <> 'any' OR threshold = 0),
  PRIMARY KEY (organization_id, alert_id),
  FOREIGN KEY (organization_id, search_id) REFERENCES saved_searches (organization_id, search_id)
);
CREATE INDEX search_alerts_org_enabled ON search_alerts (organization_id) WHERE enabled;

REVOKE ALL ON saved_searches, search_alerts FROM PUBLIC;

-- Readers see their organisation's rows only, through views as for every other
-- organisation-scoped table (see the access migration for why views).
CREATE VIEW org_saved_searches WITH (security_barrier) AS
  SELECT * FROM saved_searches WHERE organization_id = auditlens_current_org();
CREATE VIEW org_search_alerts WITH (security_barrier) AS
  SELECT * FROM search_alerts WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_saved_searches, org_search_alerts TO auditlens_reader;
