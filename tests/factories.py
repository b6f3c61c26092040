"""Event factories: tests state only the fields that matter to them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sql.vocabulary import EVENT_COLUMNS

_sequence = itertools.count(1)


def event_row(**fields: Any) -> tuple[Any, ...]:
    """One row in `EVENT_COLUMNS` order with plausible defaults for what is not given."""
    n = next(_sequence)
    values: dict[str, Any] = {
        "organization_id": "org_a",
        "id": f"evt_{n:08d}",
        "event_time": datetime(2025, 1, 15, 14, 32, 15, tzinfo=UTC),
        "event_type": "log_access",
        "event_action": "search",
        "user_id": "user_xyz789",
        "user_email": "john@company.com",
        "ip_address": "192.168.1.100",
        "user_agent": "Mozilla/5.0",
        "resource_type": "source",
        "resource_id": "source_production_api",
        "details": {"query": "level:error AND user_id:12345", "results_count": 47},
        "session_id": "sess_abc123",
    }
    unknown = set(fields) - set(values)
    if unknown:
        raise TypeError(f"unknown event fields: {sorted(unknown)}")
    values.update(fields)
    return tuple(values[c] for c in EVENT_COLUMNS)
