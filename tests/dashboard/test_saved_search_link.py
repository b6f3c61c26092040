"""The `?saved=` value and a saved search's view, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.saved_search_link import is_showing, picker_label, saved_ref, view_query
from usecases.saved_searches import SavedSearch

_T = datetime(2026, 1, 1, tzinfo=UTC)


def _search(query: str, *, owner: str = "ann@company.com", visibility: str = "private"):
    return SavedSearch(7, "org_a", "Exports", "", query, owner, visibility, _T, _T, owner)


def test_digits_are_an_id_anything_else_a_name():
    assert saved_ref("42") == 42
    assert saved_ref(" 42 ") == 42
    assert saved_ref("Exports at night") == "Exports at night"
    assert saved_ref("４２") == "４２"  # full-width digits are not an id
    assert saved_ref("9" * 19) == "9" * 19  # past bigint: only a name could match
    assert saved_ref("") is None and saved_ref("  ") is None and saved_ref(None) is None


def test_the_view_is_the_search_s_canonical_query():
    search = _search("family:config_change   user:bob")
    assert view_query(search) == "user:bob family:config_change"
    assert is_showing(search, "user:bob family:config_change")
    assert not is_showing(search, "user:bob family:config_change threshold")
    assert is_showing(_search(""), "")


def test_a_query_the_parser_now_refuses_is_kept_as_typed():
    assert view_query(_search("created:2025-13-45")) == "created:2025-13-45"


def test_the_picker_says_whose_and_whether_shared():
    assert picker_label(_search("x"), "ann@company.com") == "Exports (yours, private)"
    shared = _search("x", owner="bob@company.com", visibility="shared")
    assert picker_label(shared, "ann@company.com") == "Exports (by bob@company.com, shared)"
