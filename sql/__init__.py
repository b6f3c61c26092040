"""AuditLens storage layer: migrations, the database gateway, capabilities, guarantees."""

from sql.capabilities import Capabilities, Flavor
from sql.errors import AuditLensError
from sql.gateway import Database, QueryResult, ScopedSession

__all__ = ["AuditLensError", "Capabilities", "Database", "Flavor", "QueryResult", "ScopedSession"]
