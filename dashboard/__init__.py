"""AuditLens dashboard layer."""
