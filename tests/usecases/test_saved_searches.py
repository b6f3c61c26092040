"""Saved searches: kept by name per organisation, private or shared, every change audited."""

from __future__ import annotations

import pytest

from sql.gateway import Database
from sql.query_terms import MAX_QUERY_LENGTH
from sql.saved_searches import MAX_NAME, SavedSearchError
from usecases.saved_searches import delete, get, list_searches, rename, save, update

ANN, BOB = "ann@x.com", "bob@x.com"


def _own_events(db: Database, org: str) -> list[tuple[str, str, str, dict]]:
    with db.org_session(org) as session:
        rows = session.execute(
            "SELECT event_action, user_id, resource_id, details FROM org_audit_events"
            " WHERE own_use AND resource_type = 'saved_search' ORDER BY ingest_seq"
        ).rows
    return [tuple(r) for r in rows]


def test_save_list_get_rename_update_delete_round_trip_and_every_change_is_audited(db: Database):
    saved = save(db, "org_a", ANN, "Night exports", "action:export hour:0 hour:1", "2 a.m.")
    assert (saved.name, saved.query, saved.description, saved.owner, saved.visibility) == (
        "Night exports",
        "action:export hour:0 hour:1",
        "2 a.m.",
        ANN,
        "private",
    )
    assert get(db, "org_a", ANN, "night EXPORTS") == saved  # names compare case-insensitively
    assert get(db, "org_a", ANN, saved.search_id) == saved
    renamed = rename(db, "org_a", ANN, "Night exports", "Exports at night")
    changed = update(db, "org_a", ANN, saved.search_id, query="action:export", shared=True)
    assert (changed.name, changed.query, changed.visibility) == (
        "Exports at night",
        "action:export",
        "shared",
    )
    assert [s.name for s in list_searches(db, "org_a", BOB)] == ["Exports at night"]
    delete(db, "org_a", ANN, "exports at night")
    assert list_searches(db, "org_a", ANN) == []
    with pytest.raises(SavedSearchError, match="no saved search 'Exports at night'"):
        get(db, "org_a", ANN, "Exports at night")
    # The name is free again once deleted.
    assert save(db, "org_a", ANN, "Exports at night", "action:export").search_id != saved.search_id
    audited = _own_events(db, "org_a")
    assert [(a, u, r) for a, u, r, _ in audited[:4]] == [
        ("save_search", ANN, str(saved.search_id)),
        ("rename_saved_search", ANN, str(saved.search_id)),
        ("update_saved_search", ANN, str(saved.search_id)),
        ("delete_saved_search", ANN, str(saved.search_id)),
    ]
    assert audited[1][3] == {"name": renamed.name, "old_name": "Night exports"}
    assert audited[2][3]["query"] == {"from": "action:export hour:0 hour:1", "to": "action:export"}
    assert audited[2][3]["visibility"] == {"from": "private", "to": "shared"}


def test_private_searches_are_their_owners_and_shared_ones_everyones_to_read(db: Database):
    save(db, "org_a", ANN, "ann private", "user:u1")
    save(db, "org_a", ANN, "ann shared", "user:u2", shared=True)
    save(db, "org_a", BOB, "bob private", "user:u3")
    assert [s.name for s in list_searches(db, "org_a", ANN)] == ["ann private", "ann shared"]
    assert [s.name for s in list_searches(db, "org_a", BOB)] == ["ann shared", "bob private"]
    with pytest.raises(SavedSearchError, match=r"^search: no saved search 'ann private' in org"):
        get(db, "org_a", BOB, "ann private")
    assert get(db, "org_a", BOB, "ann shared").query == "user:u2"
    # Only the owner changes or deletes, even a shared one.
    for change in (
        lambda: rename(db, "org_a", BOB, "ann shared", "mine now"),
        lambda: update(db, "org_a", BOB, "ann shared", query="user:u9"),
        lambda: delete(db, "org_a", BOB, "ann shared"),
    ):
        with pytest.raises(SavedSearchError, match=r"belongs to ann@x.com; only its owner"):
            change()
    with pytest.raises(SavedSearchError, match="no saved search 'ann private'"):
        delete(db, "org_a", BOB, "ann private")
    assert get(db, "org_a", ANN, "ann shared").name == "ann shared"


def test_a_second_organisation_neither_sees_nor_uses_the_first_ones_searches(db: Database):
    first = save(db, "org_a", ANN, "shared one", "user:u1", shared=True)
    assert list_searches(db, "org_b", ANN) == []
    for ref in ("shared one", first.search_id):
        with pytest.raises(SavedSearchError, match=r"no saved search .* in organisation org_b"):
            get(db, "org_b", ANN, ref)
        with pytest.raises(SavedSearchError, match="in organisation org_b"):
            delete(db, "org_b", ANN, ref)
    # The same name is free in another organisation.
    assert save(db, "org_b", ANN, "Shared One", "user:u2").organization_id == "org_b"
    assert get(db, "org_a", ANN, "shared one").query == "user:u1"


def test_another_users_private_search_is_as_unknown_as_one_that_does_not_exist(db: Database):
    secret = save(db, "org_a", ANN, "Investigation of Bob for fraud", "user:bob")
    missing = secret.search_id + 1000
    for ref in (secret.search_id, missing):
        for attempt in (
            lambda ref=ref: get(db, "org_a", BOB, ref),
            lambda ref=ref: rename(db, "org_a", BOB, ref, "mine"),
            lambda ref=ref: update(db, "org_a", BOB, ref, query="user:u1"),
            lambda ref=ref: delete(db, "org_a", BOB, ref),
        ):
            with pytest.raises(SavedSearchError) as refused:
                attempt()
            # Word for word the answer for an id that was never used: nothing to tell apart.
            assert str(refused.value) == f"search: no saved search id {ref} in organisation org_a"
    assert get(db, "org_a", ANN, secret.search_id) == secret


@pytest.mark.parametrize(
    ("name", "query", "error"),
    [
        ("", "user:u1", "name must not be empty"),
        ("   ", "user:u1", "name must not be empty"),
        ("x" * (MAX_NAME + 1), "user:u1", rf"name is 201 characters long \(at most {MAX_NAME}\)"),
        ("two\nlines", "user:u1", r"name contains a control or invisible character \(U\+000A\)"),
        ("nul\x00", "user:u1", r"name contains a control or invisible character \(U\+0000\)"),
        ("rtl\u202eevil", "user:u1", r"\(U\+202E\)"),
        ("\ufdfa" * 50, "user:u1", r"name is 900 characters long once normalised \(at most 800\)"),
        ("ok", "created:2025-13-01", "query: query error at column 9"),
        ("ok", 'user:"unclosed', "query: query error"),
        ("ok", "user:a\x00b", "query contains a NUL character"),
        ("ok", "x" * (MAX_QUERY_LENGTH + 1), "query is 4,001 characters long"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(db: Database, name: str, query: str, error: str):
    with pytest.raises(SavedSearchError, match=error) as caught:
        save(db, "org_a", ANN, name, query)
    assert "\n" not in str(caught.value)
    assert list_searches(db, "org_a", ANN) == []


def test_hostile_text_that_is_valid_is_stored_as_text(db: Database):
    name = "x'); DROP TABLE saved_searches; --"
    query = '"\'; DELETE FROM audit_events; --" user:"a b"'
    description = "line one\nline two <script>alert(1)</script>"
    saved = save(db, "org_a", ANN, name, query, description)
    assert get(db, "org_a", ANN, name) == saved
    assert (saved.name, saved.query, saved.description) == (name, query, description)


def test_duplicate_names_are_refused_whatever_their_case_or_owner(db: Database):
    save(db, "org_a", ANN, "Straße", "user:u1")
    for name, owner in (("STRASSE", ANN), ("straße", BOB), (" Straße ", ANN)):
        with pytest.raises(SavedSearchError, match=r"name: a saved search called .* exists"):
            save(db, "org_a", owner, name, "user:u2")
    save(db, "org_a", ANN, "other", "user:u2")
    with pytest.raises(SavedSearchError, match="name: a saved search called 'STRASSE' exists"):
        rename(db, "org_a", ANN, "other", "STRASSE")
    # Renaming to its own name in another case is not a clash with itself.
    assert rename(db, "org_a", ANN, "Straße", "STRAßE").name == "STRAßE"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("caf\u00e9", "cafe\u0301"),  # é precomposed, then e and a combining acute accent
        ("\ufb01les", "FILES"),  # the "fi" ligature
        ("\uff21udit", "audit"),  # a fullwidth A
        ("\u212bngstr\u00f6m", "\u00c5ngstro\u0308m"),  # the Angstrom sign, o + diaeresis
    ],
)
def test_names_a_person_reads_as_one_are_one_name(db: Database, first: str, second: str):
    saved = save(db, "org_a", ANN, first, "user:u1", shared=True)
    with pytest.raises(SavedSearchError, match="exists already"):
        save(db, "org_a", BOB, second, "user:bob", shared=True)
    assert get(db, "org_a", BOB, second) == saved
    other = save(db, "org_a", ANN, "other", "user:u2")
    with pytest.raises(SavedSearchError, match="exists already"):
        rename(db, "org_a", ANN, other.search_id, second)


def test_update_needs_something_to_set_and_checks_the_query(db: Database):
    save(db, "org_a", ANN, "s", "user:u1")
    with pytest.raises(SavedSearchError, match="update: give a query"):
        update(db, "org_a", ANN, "s")
    with pytest.raises(SavedSearchError, match="query: query error"):
        update(db, "org_a", ANN, "s", query="created:nope")
    assert get(db, "org_a", ANN, "s").query == "user:u1"
