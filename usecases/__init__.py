"""What the dashboard and the command line both do: exports, the access report, accounts and
the record of AuditLens's own use. Both faces import these; these import neither face."""
