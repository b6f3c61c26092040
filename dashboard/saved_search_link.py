"""How a saved search travels in a URL (`?saved=`) and shows in a picker; no Streamlit here.

Links carry the search's id; a name typed into the address works too. The query box shows
the search's query while the view is still that search's (`is_showing`).
"""

from __future__ import annotations

from sql.event_filter import EventFilter, QuerySyntaxError
from usecases.saved_searches import SavedSearch

SAVED_PARAM = "saved"
# Ids are bigint: longer digit strings cannot be one and are looked up as names instead.
_MAX_ID_DIGITS = 18


def saved_ref(value: str | None) -> int | str | None:
    """What `?saved=value` names: an id when it is digits, else a name; None when empty."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS:
        return int(text)
    return text


def view_query(search: SavedSearch) -> str:
    """The query text Explore applies for `search` (its canonical form, as the URL's `q`)."""
    try:
        return EventFilter.parse(search.query).to_query()
    except QuerySyntaxError:
        # Saved before the parser grew stricter: Explore shows its error on the raw text.
        return search.query


def is_showing(search: SavedSearch, applied_query: str) -> bool:
    """Whether the applied view is still exactly `search`'s (not narrowed since)."""
    return view_query(search) == applied_query


def picker_label(search: SavedSearch, viewer: str) -> str:
    """One plain-text line for a picker: name, then whose it is and whether shared."""
    whose = "yours" if search.owner == viewer else f"by {search.owner}"
    return f"{search.name} ({whose}, {search.visibility})"
