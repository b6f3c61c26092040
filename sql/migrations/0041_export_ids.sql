-- The writer records an export and names it in the export's audit event, so it needs the new
-- row's id back (INSERT ... RETURNING export_id): that column only, nothing else of the table.
GRANT SELECT (export_id) ON audit_exports TO auditlens_writer;
