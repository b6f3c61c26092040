"""AuditLens ingest layer: the event model, the batched writer, the SDK (`AuditLogger`), the
HTTP receiver, middleware and file import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.sdk import AuditLogger

__all__ = ["AuditLogger"]


def __getattr__(name: str) -> Any:
    # Lazy: `import ingest.model` should not pull in the database layer.
    if name == "AuditLogger":
        from ingest.sdk import AuditLogger

        return AuditLogger
    raise AttributeError(name)
