"""AuditLens detection layer."""
