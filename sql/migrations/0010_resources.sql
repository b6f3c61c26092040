-- The resource catalogue: what each resource of an organisation is (a name people know it by,
-- its type, how sensitive it is, what it holds, who owns it) and who confirmed that. Detection,
-- the Compliance page and Explore read it; a resource without a row gets a suggestion computed
-- on the fly (never stored), so a row here is always a person's (or a seeding's) statement.
-- The levels and the tag pattern are `sql.vocabulary`'s SENSITIVITY_LEVELS and RESOURCE_TAG.

-- Every tag a lower-case word: tags are matched and shown as they are, so nothing else gets in.
CREATE FUNCTION auditlens_valid_tags(tags text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT cardinality(tags) <= 20
     AND coalesce(bool_and(t IS NOT NULL AND t ~ '^[a-z][a-z0-9_-]{0,31}$'), true)
    FROM unnest(tags) AS t
$$;

CREATE TABLE resource_catalogue (
  organization_id text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  -- Any id producers send: bounded, and without control characters (it is shown on pages).
  resource_id     text        NOT NULL
                  CHECK (length(resource_id) BETWEEN 1 AND 512 AND resource_id !~ '[[:cntrl:]]'),
  display_name    text        CHECK (length(display_name) BETWEEN 1 AND 200
                                     AND display_name !~ '[[:cntrl:]]'),
  resource_type   text        CHECK (length(resource_type) BETWEEN 1 AND 128
                                     AND resource_type !~ '[[:cntrl:]]'),
  sensitivity     text        NOT NULL
                  CHECK (sensitivity IN ('internal', 'confidential', 'restricted')),
  tags            text[]      NOT NULL DEFAULT '{}' CHECK (auditlens_valid_tags(tags)),
  owner_team      text        CHECK (length(owner_team) BETWEEN 1 AND 200
                                     AND owner_team !~ '[[:cntrl:]]'),
  confirmed_by    text        NOT NULL CHECK (length(confirmed_by) BETWEEN 1 AND 320),
  confirmed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, resource_id)
);

-- Only the login role (db.admin(), as for retention policies) writes; every write is audited
-- by the caller in the same transaction.
REVOKE ALL ON resource_catalogue FROM PUBLIC;

-- Readers see their organisation's rows only, through a view as for every other
-- organisation-scoped table (see the access migration for why views).
CREATE VIEW org_resource_catalogue WITH (security_barrier) AS
  SELECT * FROM resource_catalogue WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_resource_catalogue TO auditlens_reader;
