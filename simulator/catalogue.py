"""The simulated organisation describes its resources, through the catalogue any organisation
uses (`sql.catalogue.set_entries`, audited like a person's change).

It knows its whole world: its sources with their levels and tags, and the configuration
objects whose ids name a source or a field (retention policies, masking rules, the API
endpoints that read a source), which hold no records themselves and are described as
`internal` so their names do not make them look sensitive.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time

from simulator.actions import PII_MASKED_FIELDS, pii_rule_id
from simulator.sources import SOURCES, api_logs_path, retention_policy_id
from sql.catalogue import Entry, SetOutcome, set_entries
from sql.gateway import Database

ACTOR = "system:simulator"


def simulated_entries(resource_ids: Mapping[str, str] | None = None) -> list[Entry]:
    """Every catalogue entry of a simulated organisation; `resource_ids` maps a source's
    name to the id its world gives it (a world's own id convention), else the demo's."""
    ids = resource_ids or {}
    out: list[Entry] = []
    for s in SOURCES:
        name = s.name.replace("-", " ").capitalize()
        rid = ids.get(s.name, s.resource_id)
        out.append(Entry(rid, s.sensitivity, name, "source", tuple(s.tags)))
        out.append(
            Entry(
                retention_policy_id(rid),
                "internal",
                f"Retention of {s.name}",
                "retention_policy",
            )
        )
        out.append(Entry(api_logs_path(s.name), "internal", f"API: {s.name} logs", "api_endpoint"))
    for field in PII_MASKED_FIELDS:
        out.append(
            Entry(pii_rule_id(field), "internal", f"Masking rule: {field}", "pii_masking_rule")
        )
    return out


def describe_simulation(
    db: Database, org: str, start: date, resource_ids: Mapping[str, str] | None = None
) -> SetOutcome:
    """Write the simulated organisation's catalogue (unchanged entries are left as they are),
    dated at the start of its simulated history: the organisation described its resources
    when it was set up, so its audited history keeps the simulation's span (evaluation and
    detection windows follow the span of the events)."""
    at = datetime.combine(start, time(0), UTC)
    return set_entries(
        db, org, simulated_entries(resource_ids), actor=ACTOR, via="simulator", at=at
    )
