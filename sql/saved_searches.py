"""Saved searches: an organisation's Explore queries kept by name.

A search is private to its owner or shared with the organisation; whoever can see it may
run, export and alert on it, only its owner may change or delete it; to anyone else another
user's private search is as unknown as one that does not exist. Names are unique within an
organisation, compared as a person reads them: normalised and case-folded (`name_key`). Every
change is recorded as an audit event in the same transaction. The query is Explore's syntax,
checked by its parser, and kept as typed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sql.errors import AuditLensError
from sql.event_filter import EventFilter, QuerySyntaxError
from sql.event_store import record_event
from sql.gateway import Database, ScopedSession, check_org_id
from sql.query_terms import MAX_QUERY_LENGTH
from sql.vocabulary import (
    DELETE_SAVED_SEARCH,
    RENAME_SAVED_SEARCH,
    SAVE_SEARCH,
    UPDATE_SAVED_SEARCH,
    OwnAction,
)

MAX_NAME = 200
# Normalising can lengthen a name up to 18 times (U+FDFA is 18 letters); the key column's bound.
MAX_NAME_KEY = 800
MAX_DESCRIPTION = 2_000
MAX_ACTOR = 320
VISIBILITIES = ("private", "shared")
# The columns a SavedSearch is built from, in its fields' order (a fixed text in every query).
_COLUMNS = (
    "search_id, organization_id, name, description, query, owner, visibility, created_at,"
    " updated_at, updated_by"
)


class SavedSearchError(AuditLensError):
    """A saved search that cannot be made, found or changed as asked; names the field."""


@dataclass(frozen=True)
class SavedSearch:
    search_id: int
    organization_id: str
    name: str
    description: str
    query: str
    owner: str
    visibility: str
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def shared(self) -> bool:
        return self.visibility == "shared"

    def event_filter(self) -> EventFilter:
        """The filter the query names (checked when saved)."""
        return EventFilter.parse(self.query)


def name_key(name: str) -> str:
    """What two names must differ in to be two searches: more than case, in every script, or
    how a character is encoded (precomposed or combining, ligature, fullwidth)."""
    # Normalised again after folding: casefold() can undo NFKC (e.g. U+0345 folds to U+03B9).
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def check_name(name: object) -> str:
    """A search's name, stripped; one-line errors naming the field."""
    if not isinstance(name, str) or not name.strip():
        raise SavedSearchError("name must not be empty")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise SavedSearchError(f"name is {len(name):,} characters long (at most {MAX_NAME})")
    bad = next((c for c in name if not c.isprintable()), None)
    if bad is not None:
        raise SavedSearchError(
            f"name contains a control or invisible character (U+{ord(bad):04X});"
            " a name is shown on one line"
        )
    if len(key := name_key(name)) > MAX_NAME_KEY:
        raise SavedSearchError(
            f"name is {len(key):,} characters long once normalised (at most {MAX_NAME_KEY})"
        )
    return name


def check_query(query: object) -> str:
    """A query Explore can run, stripped; the parser's own message when it cannot."""
    if not isinstance(query, str):
        raise SavedSearchError("query must be text")
    if "\x00" in query:
        raise SavedSearchError("query contains a NUL character")
    query = query.strip()
    if len(query) > MAX_QUERY_LENGTH:
        raise SavedSearchError(
            f"query is {len(query):,} characters long (at most {MAX_QUERY_LENGTH:,})"
        )
    try:
        EventFilter.parse(query)
    except QuerySyntaxError as exc:
        raise SavedSearchError(f"query: {exc}") from None
    return query


def check_description(description: object) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise SavedSearchError("description must be text")
    if "\x00" in description:
        raise SavedSearchError("description contains a NUL character")
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise SavedSearchError(
            f"description is {len(description):,} characters long (at most {MAX_DESCRIPTION:,})"
        )
    return description


def check_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise SavedSearchError("actor must not be empty")
    if len(actor) > MAX_ACTOR or "\x00" in actor:
        raise SavedSearchError(f"actor must be at most {MAX_ACTOR} characters, without NUL")
    return actor


def _audit(
    session: ScopedSession,
    search: SavedSearch,
    action: OwnAction,
    actor: str,
    details: dict[str, Any],
) -> None:
    record_event(
        session,
        organization_id=search.organization_id,
        action=action,
        user_id=actor,
        resource_type="saved_search",
        resource_id=str(search.search_id),
        details={"name": search.name, **details},
    )


def _taken(name: str) -> SavedSearchError:
    return SavedSearchError(f"name: a saved search called {name!r} exists already")


def _name_free(session: ScopedSession, org_id: str, name: str, *, but: int | None = None) -> None:
    clash = session.scalar(
        "SELECT search_id FROM saved_searches WHERE organization_id = :org"
        " AND name_key = :key AND deleted_at IS NULL AND search_id IS DISTINCT FROM :but",
        {"org": org_id, "key": name_key(name), "but": but},
    )
    if clash is not None:
        raise _taken(name)


def create_search(
    db: Database,
    org_id: str,
    actor: str,
    name: str,
    query: str,
    *,
    description: str | None = "",
    shared: bool = False,
) -> SavedSearch:
    """Save `query` as `name` in `org_id`, owned by `actor`; recorded as an audit event."""
    check_org_id(org_id)
    actor = check_actor(actor)
    name = check_name(name)
    query = check_query(query)
    description = check_description(description)
    with db.admin() as session:
        # One writer per organisation at a time, so the check and the unique index agree
        # (a second save of the name waits here and then gets the one-line error).
        lock_searches(session, org_id)
        _name_free(session, org_id, name)
        row = session.execute(
            "INSERT INTO saved_searches (organization_id, name, name_key, description, query,"  # noqa: S608
            " owner, visibility, updated_by) VALUES (:org, :name, :key, :description, :query,"
            " :actor, :visibility, :actor) RETURNING " + _COLUMNS,
            {
                "org": org_id,
                "name": name,
                "key": name_key(name),
                "description": description,
                "query": query,
                "actor": actor,
                "visibility": "shared" if shared else "private",
            },
        ).rows[0]
        search = SavedSearch(*row)
        _audit(
            session,
            search,
            SAVE_SEARCH,
            actor,
            {"query": query, "visibility": search.visibility, "description": description},
        )
    return search


def lock_searches(session: ScopedSession, org_id: str) -> None:
    """Hold `org_id`'s saved searches and alerts for this transaction's changes to them."""
    session.execute(
        "SELECT pg_advisory_xact_lock(hashtext('auditlens.saved_searches'), hashtext(:org))",
        {"org": org_id},
    )


def visible_searches(db: Database, org_id: str, actor: str) -> list[SavedSearch]:
    """The searches of `org_id` that `actor` can see (their own and every shared one), by name."""
    actor = check_actor(actor)
    with db.org_session(org_id) as session:
        rows = session.execute(
            "SELECT " + _COLUMNS + " FROM org_saved_searches WHERE deleted_at IS NULL"  # noqa: S608
            " AND (owner = :actor OR visibility = 'shared') ORDER BY name_key, search_id",
            {"actor": actor},
        ).rows
    return [SavedSearch(*row) for row in rows]


def _unknown(org_id: str, ref: str | int) -> SavedSearchError:
    # Another organisation's search is as unknown here as one that does not exist.
    what = f"id {ref}" if isinstance(ref, int) else repr(ref)
    return SavedSearchError(f"search: no saved search {what} in organisation {org_id}")


def _find(session: ScopedSession, org_id: str, ref: str | int, *, lock: bool) -> SavedSearch:
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise SavedSearchError("search: give a name or an id")
    by = "search_id = :ref" if isinstance(ref, int) else "name_key = :ref"
    value: str | int = ref if isinstance(ref, int) else name_key(ref.strip())
    # Fixed texts only; the reference is bound.
    rows = session.execute(
        "SELECT " + _COLUMNS + " FROM saved_searches WHERE organization_id = :org"  # noqa: S608
        " AND deleted_at IS NULL AND " + by + (" FOR UPDATE" if lock else ""),
        {"org": org_id, "ref": value},
    ).rows
    if not rows:
        raise _unknown(org_id, ref)
    return SavedSearch(*rows[0])


def _visible_to(search: SavedSearch, actor: str, ref: str | int) -> SavedSearch:
    # Not even its name or its existence: the same answer as for a search that does not exist.
    if not search.shared and search.owner != actor:
        raise _unknown(search.organization_id, ref)
    return search


def _owned_by(search: SavedSearch, actor: str, ref: str | int) -> SavedSearch:
    _visible_to(search, actor, ref)
    if search.owner != actor:
        raise SavedSearchError(
            f"search: {search.name!r} belongs to {search.owner}; only its owner can change it"
        )
    return search


def find_search(db: Database, org_id: str, actor: str, ref: str | int) -> SavedSearch:
    """The search of `org_id` named (or numbered) `ref`, if `actor` can see it."""
    with db.admin() as session:
        return visible_search(session, org_id, actor, ref)


def visible_search(session: ScopedSession, org_id: str, actor: str, ref: str | int) -> SavedSearch:
    """As `find_search`, within the caller's transaction: under `lock_searches` it stays so
    (nobody makes it private or deletes it) until that transaction ends."""
    check_org_id(org_id)
    actor = check_actor(actor)
    return _visible_to(_find(session, org_id, ref, lock=False), actor, ref)


def _change(
    db: Database,
    org_id: str,
    actor: str,
    ref: str | int,
    action: OwnAction,
    changes: dict[str, Any],
    details: Any,
) -> SavedSearch:
    check_org_id(org_id)
    actor = check_actor(actor)
    with db.admin() as session:
        lock_searches(session, org_id)
        before = _owned_by(_find(session, org_id, ref, lock=True), actor, ref)
        if "query" in changes and EventFilter.parse(changes["query"]).own_use:
            _no_alerts(session, before, "would read AuditLens's own use (stream:auditlens)")
        if changes.get("visibility") == "private" and before.shared:
            _no_others_alerts(session, before)
        if "name" in changes:
            _name_free(session, org_id, changes["name"], but=before.search_id)
            changes["name_key"] = name_key(changes["name"])
        # Column names come from this module's fixed keys; every value is bound.
        assignments = ", ".join(f"{column} = :{column}" for column in changes)
        row = session.execute(
            "UPDATE saved_searches SET " + assignments + ", updated_at = now(),"  # noqa: S608
            " updated_by = :actor WHERE organization_id = :org AND search_id = :id"
            " RETURNING " + _COLUMNS,
            {**changes, "actor": actor, "org": org_id, "id": before.search_id},
        ).rows[0]
        after = SavedSearch(*row)
        _audit(session, after, action, actor, details(before, after))
    return after


def rename_search(
    db: Database, org_id: str, actor: str, ref: str | int, new_name: str
) -> SavedSearch:
    """Rename a search its owner `actor` holds; recorded as an audit event."""
    new_name = check_name(new_name)
    return _change(
        db,
        org_id,
        actor,
        ref,
        RENAME_SAVED_SEARCH,
        {"name": new_name},
        lambda before, after: {"old_name": before.name},
    )


def update_search(
    db: Database,
    org_id: str,
    actor: str,
    ref: str | int,
    *,
    query: str | None = None,
    description: str | None = None,
    shared: bool | None = None,
) -> SavedSearch:
    """Set a search's query, description or sharing (those given); recorded as an audit event."""
    changes: dict[str, Any] = {}
    if query is not None:
        changes["query"] = check_query(query)
    if description is not None:
        changes["description"] = check_description(description)
    if shared is not None:
        changes["visibility"] = "shared" if shared else "private"
    if not changes:
        raise SavedSearchError("update: give a query, a description or a sharing to set")

    def details(before: SavedSearch, after: SavedSearch) -> dict[str, Any]:
        fields = {"query": "query", "description": "description", "visibility": "visibility"}
        return {
            key: {"from": getattr(before, attr), "to": getattr(after, attr)}
            for key, attr in fields.items()
            if key in changes
        }

    return _change(db, org_id, actor, ref, UPDATE_SAVED_SEARCH, changes, details)


def _no_alerts(
    session: ScopedSession, search: SavedSearch, change: str, *, enabled_only: bool = False
) -> None:
    """Refuse a change that would leave an alert on `search` unable to run."""
    rows = session.execute(
        "SELECT alert_id FROM search_alerts WHERE organization_id = :org AND search_id = :id"
        " AND (enabled OR NOT CAST(:enabled_only AS boolean)) ORDER BY alert_id",
        {"org": search.organization_id, "id": search.search_id, "enabled_only": enabled_only},
    ).rows
    if rows:
        ids = ", ".join(str(r[0]) for r in rows)
        after = ", switched on; disable them first" if enabled_only else ""
        raise SavedSearchError(
            f"search: {search.name!r} {change}, but it feeds alert(s) {ids}{after}"
        )


def _no_others_alerts(session: ScopedSession, search: SavedSearch) -> None:
    """Refuse making `search` private while an alert someone else made uses it.

    Refused rather than done with a side effect: switching their alerts off would silence
    another user's detection unseen, and leaving them would go on running, listing and dry
    running a query its owner took back. Switched-off alerts count too: they can be switched
    on again. So whoever made an alert can always see its search.
    """
    rows = session.execute(
        "SELECT alert_id FROM search_alerts WHERE organization_id = :org AND search_id = :id"
        " AND created_by <> :owner ORDER BY alert_id",
        {"org": search.organization_id, "id": search.search_id, "owner": search.owner},
    ).rows
    if rows:
        ids = ", ".join(str(r[0]) for r in rows)
        raise SavedSearchError(
            f"search: {search.name!r} feeds {len(rows)} alert(s) made by other users ({ids});"
            " a search stays shared while another user's alert uses it"
            " (disable them, then delete it)"
        )


def delete_search(db: Database, org_id: str, actor: str, ref: str | int) -> SavedSearch:
    """Delete a search its owner `actor` holds (its record stays, its name is free again).

    Refused while an alert made from it is switched on: that alert would go quiet unseen.
    """
    check_org_id(org_id)
    actor = check_actor(actor)
    with db.admin() as session:
        lock_searches(session, org_id)
        search = _owned_by(_find(session, org_id, ref, lock=True), actor, ref)
        _no_alerts(session, search, "would be deleted", enabled_only=True)
        session.execute(
            "UPDATE saved_searches SET deleted_at = now(), deleted_by = :actor"
            " WHERE organization_id = :org AND search_id = :id",
            {"actor": actor, "org": org_id, "id": search.search_id},
        )
        _audit(session, search, DELETE_SAVED_SEARCH, actor, {"query": search.query})
    return search
