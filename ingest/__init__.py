"""AuditLens ingest layer."""
