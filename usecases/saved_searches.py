"""Saved searches as the dashboard and the command line use them.

`save`, `list_searches`, `get`, `rename`, `update` and `delete` are the store's
(`sql.saved_searches`: checked, scoped to one organisation, audited); `search_lines` and
`search_detail` are what the command line prints, every typed text shown as text.
"""

from __future__ import annotations

from sql.gateway import Database
from sql.saved_searches import (
    SavedSearch,
    SavedSearchError,
    create_search,
    delete_search,
    find_search,
    rename_search,
    update_search,
    visible_searches,
)
from usecases.legal_holds import shown

__all__ = [
    "SavedSearch",
    "SavedSearchError",
    "delete",
    "get",
    "list_searches",
    "rename",
    "save",
    "search_detail",
    "search_lines",
    "update",
]


def save(
    db: Database,
    org: str,
    actor: str,
    name: str,
    query: str,
    description: str | None = "",
    shared: bool = False,
) -> SavedSearch:
    """Save `query` under `name`, owned by `actor` (private unless `shared`)."""
    return create_search(db, org, actor, name, query, description=description, shared=shared)


def list_searches(db: Database, org: str, actor: str) -> list[SavedSearch]:
    """What `actor` can see in `org`: their own searches and every shared one, by name."""
    return visible_searches(db, org, actor)


def get(db: Database, org: str, actor: str, ref: str | int) -> SavedSearch:
    """The search named `ref` (a str) or numbered `ref` (an int), if `actor` may see it."""
    return find_search(db, org, actor, ref)


def rename(db: Database, org: str, actor: str, ref: str | int, new_name: str) -> SavedSearch:
    return rename_search(db, org, actor, ref, new_name)


def update(
    db: Database,
    org: str,
    actor: str,
    ref: str | int,
    *,
    query: str | None = None,
    description: str | None = None,
    shared: bool | None = None,
) -> SavedSearch:
    """Set what is given of query, description and sharing; only the owner may."""
    return update_search(db, org, actor, ref, query=query, description=description, shared=shared)


def delete(db: Database, org: str, actor: str, ref: str | int) -> SavedSearch:
    """Delete a search (refused while an alert made from it is switched on)."""
    return delete_search(db, org, actor, ref)


def _line(search: SavedSearch) -> str:
    return (
        f"{search.search_id}\t{shown(search.name)}\t{search.visibility}\t{shown(search.owner)}"
        f"\t{shown(search.query)}"
    )


def search_lines(db: Database, org: str, actor: str) -> list[str]:
    """One line per search `actor` can see: id, name, visibility, owner, query."""
    return [_line(search) for search in list_searches(db, org, actor)]


def search_detail(search: SavedSearch) -> list[str]:
    """A search field by field, one line each."""
    return [
        f"id: {search.search_id}",
        f"name: {shown(search.name)}",
        f"query: {shown(search.query)}",
        f"means: {shown(search.event_filter().describe())}",
        f"description: {shown(search.description)}",
        f"owner: {shown(search.owner)}",
        f"visibility: {search.visibility}",
        f"created: {search.created_at:%Y-%m-%d %H:%M}Z",
        f"updated: {search.updated_at:%Y-%m-%d %H:%M}Z by {shown(search.updated_by)}",
    ]
