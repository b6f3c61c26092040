-- A seal's event ids as one bytea (each id in UTF-8 followed by a NUL byte, the exact bytes
-- its index digest hashes) instead of text[]: moving 65,536-element arrays through the
-- driver cost more than computing the seal. Existing rows are converted, not dropped.
CREATE FUNCTION pg_temp.ids_blob(ids text[]) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(string_agg(convert_to(i, 'UTF8') || '\x00'::bytea, ''::bytea ORDER BY o),
                  ''::bytea)
    FROM unnest(ids) WITH ORDINALITY AS u(i, o)
$$;

DROP VIEW org_audit_seal_leaves;
ALTER TABLE audit_seal_leaves
  ALTER COLUMN event_ids TYPE bytea USING pg_temp.ids_blob(event_ids);
COMMENT ON COLUMN audit_seal_leaves.event_ids IS
  'each event id in UTF-8 followed by a NUL byte, in leaf order';
CREATE VIEW org_audit_seal_leaves WITH (security_barrier) AS
  SELECT * FROM audit_seal_leaves WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_audit_seal_leaves TO auditlens_reader;
