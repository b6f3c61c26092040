"""The resource catalogue's storage: one organisation's confirmed entries, read and written.

`entries` reads through the organisation-scoped view; `set_entries` writes as the login role
(like retention policies) and records one `describe_resource` event per entry that changed,
in the same transaction, so no change is ever unaudited. Suggestions for resources without an
entry are not stored (see `sql.resource_names` and `usecases.resource_catalogue`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sql.event_store import record_event
from sql.gateway import Database, check_org_id
from sql.vocabulary import (
    DESCRIBE_RESOURCE,
    MAX_RESOURCE_TAGS,
    RESOURCE_TAG,
    RESOURCE_TAG_RULE,
    SENSITIVITY_LEVELS,
)

# The audit events of catalogue changes name the catalogue, not the resource described:
# describing `payment-logs` is not an access to it and must not count in its access report.
AUDIT_RESOURCE_TYPE = "resource_catalogue"
AUDIT_RESOURCE_ID = "resource_catalogue"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# (field, longest) for the free-text fields.
_TEXT_LIMITS = {"resource_id": 512, "display_name": 200, "resource_type": 128, "owner_team": 200}
FIELDS = ("resource_id", "display_name", "resource_type", "sensitivity", "tags", "owner_team")


class CatalogueError(ValueError):
    """A catalogue entry that cannot be stored; the message names the field."""


@dataclass(frozen=True)
class Entry:
    """What one resource of an organisation is, as someone confirmed it."""

    resource_id: str
    sensitivity: str
    display_name: str | None = None
    resource_type: str | None = None
    tags: tuple[str, ...] = ()
    owner_team: str | None = None
    confirmed_by: str | None = field(default=None, compare=False)
    confirmed_at: datetime | None = field(default=None, compare=False)

    def values(self) -> dict[str, Any]:
        """The described fields (not who confirmed them), as the audit event shows them."""
        return {
            "display_name": self.display_name,
            "resource_type": self.resource_type,
            "sensitivity": self.sensitivity,
            "tags": list(self.tags),
            "owner_team": self.owner_team,
        }


def _text(name: str, value: Any, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise CatalogueError(f"{name}: required")
        return None
    if not isinstance(value, str):
        raise CatalogueError(f"{name}: must be text, got {type(value).__name__}")
    value = value.strip()
    if _CONTROL.search(value):
        raise CatalogueError(f"{name}: must not contain control characters")
    if len(value) > _TEXT_LIMITS[name]:
        raise CatalogueError(f"{name}: at most {_TEXT_LIMITS[name]} characters, got {len(value)}")
    return value


def parse_tags(value: Any) -> tuple[str, ...]:
    """Tags from a list or a comma/space separated text: lower-case words, in order, unique."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Sequence[Any] = [t for t in re.split(r"[,\s]+", value) if t]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise CatalogueError(f"tags: must be a list or comma-separated text, got {value!r}")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str) or not RESOURCE_TAG.fullmatch(item.strip().lower()):
            raise CatalogueError(f"tags: {item!r} is not {RESOURCE_TAG_RULE}")
        tag = item.strip().lower()
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_RESOURCE_TAGS:
        raise CatalogueError(f"tags: at most {MAX_RESOURCE_TAGS}, got {len(tags)}")
    return tuple(tags)


def checked_entry(
    resource_id: Any,
    sensitivity: Any,
    *,
    display_name: Any = None,
    resource_type: Any = None,
    tags: Any = None,
    owner_team: Any = None,
) -> Entry:
    """An `Entry` from untrusted values; a bad one is a CatalogueError naming its field."""
    rid = _text("resource_id", resource_id, required=True)
    level = sensitivity.strip().lower() if isinstance(sensitivity, str) else sensitivity
    if level not in SENSITIVITY_LEVELS:
        raise CatalogueError(
            f"sensitivity: must be one of {', '.join(SENSITIVITY_LEVELS)}, got {sensitivity!r}"
        )
    return Entry(
        resource_id=rid or "",
        sensitivity=level,
        display_name=_text("display_name", display_name),
        resource_type=_text("resource_type", resource_type),
        tags=parse_tags(tags),
        owner_team=_text("owner_team", owner_team),
    )


_SELECT = (
    "SELECT resource_id, sensitivity, display_name, resource_type, tags, owner_team,"
    " confirmed_by, confirmed_at FROM {table}"
)


def _entry(row: Sequence[Any]) -> Entry:
    rid, level, name, rtype, tags, owner, by, at = row
    return Entry(rid, level, name, rtype, tuple(tags or ()), owner, by, at)


def entries(db: Database, org: str) -> dict[str, Entry]:
    """The organisation's confirmed entries by resource id (read as its reader)."""
    with db.org_session(org, max_rows=1_000_000) as session:
        rows = session.execute(
            _SELECT.format(table="org_resource_catalogue") + " ORDER BY resource_id",
            max_rows=1_000_000,
        ).rows
    return {row[0]: _entry(row) for row in rows}


@dataclass(frozen=True)
class SetOutcome:
    """What `set_entries` did: ids newly described, ids changed, ids already as given."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


def set_entries(
    db: Database,
    org: str,
    new: Iterable[Entry],
    *,
    actor: str,
    via: str,
    actor_email: str | None = None,
    at: datetime | None = None,
) -> SetOutcome:
    """Store entries (confirmed by `actor` now), one audited event per entry that changed.

    All or nothing: one transaction. An entry equal to the stored one changes nothing and is
    not recorded. `via` says where the change came from (`cli`, `dashboard`, `import FILE`,
    `simulator`), kept in each event. `at` (default now) dates the change: only a simulated
    organisation, whose history is simulated, sets it."""
    check_org_id(org)
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    with db.admin() as session:
        for entry in new:
            # Two writers describing one new resource at once: the second waits, then sees
            # the first's row as the old values its event records (FOR UPDATE cannot lock
            # a row that does not exist yet).
            session.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(:org || '/' || :rid, 0))",
                {"org": org, "rid": entry.resource_id},
            )
            found = session.execute(
                _SELECT.format(table="resource_catalogue")
                + " WHERE organization_id = :org AND resource_id = :rid FOR UPDATE",
                {"org": org, "rid": entry.resource_id},
            ).rows
            old = _entry(found[0]) if found else None
            if old is not None and old == entry:
                unchanged.append(entry.resource_id)
                continue
            session.execute(
                "INSERT INTO resource_catalogue (organization_id, resource_id, display_name,"
                " resource_type, sensitivity, tags, owner_team, confirmed_by, confirmed_at)"
                " VALUES (:org, :rid, :name, :rtype, :level, :tags, :owner, :actor,"
                " coalesce(CAST(:at AS timestamptz), now()))"
                " ON CONFLICT (organization_id, resource_id) DO UPDATE SET"
                " display_name = excluded.display_name, resource_type = excluded.resource_type,"
                " sensitivity = excluded.sensitivity, tags = excluded.tags,"
                " owner_team = excluded.owner_team, confirmed_by = excluded.confirmed_by,"
                " confirmed_at = excluded.confirmed_at",
                {
                    "org": org,
                    "rid": entry.resource_id,
                    "name": entry.display_name,
                    "rtype": entry.resource_type,
                    "level": entry.sensitivity,
                    "tags": list(entry.tags),
                    "owner": entry.owner_team,
                    "actor": actor,
                    "at": at,
                },
            )
            before = old.values() if old else {}
            after = entry.values()
            record_event(
                session,
                organization_id=org,
                action=DESCRIBE_RESOURCE,
                user_id=actor,
                user_email=actor_email,
                resource_type=AUDIT_RESOURCE_TYPE,
                resource_id=AUDIT_RESOURCE_ID,
                event_time=at,
                details={
                    "resource_id": entry.resource_id,
                    "via": via,
                    "changes": {
                        k: {"old": before.get(k), "new": v}
                        for k, v in after.items()
                        if before.get(k) != v
                    },
                    "old_values": before or None,
                    "new_values": after,
                },
            )
            (changed if old else added).append(entry.resource_id)
    return SetOutcome(tuple(added), tuple(changed), tuple(unchanged))
