"""Saved searches on Explore (AppTest): saving the applied query, opening one from the URL
(by id or name) with the same results, the URL dropping it once the view is narrowed,
rename and delete by the owner only, visibility across users and organisations, and typed
names shown as text."""

from __future__ import annotations

from dashboard.markdown_text import md
from tests.dashboard.conftest import page_test
from tests.dashboard.test_hostile_text import _assert_inert, _rendered
from usecases import saved_searches

HOSTILE = "![x](http://host/i.png) [Session expired](http://host/phish) `x` <b>b</b> :red[r]"


def _metric(at):
    return at.metric[0].value


def _param(at, name):
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _audit(db, org, action):
    with db.org_session(org) as s:
        return s.execute(
            "SELECT user_id, resource_id, details FROM org_audit_events"
            " WHERE event_action = :a ORDER BY ingest_seq",
            {"a": action},
        ).dicts()


def test_saving_the_applied_query_puts_the_search_in_the_url(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="family:config_change user:bob@company.com").run()
    assert _metric(at) == "7"
    at.text_input(key="explore_save_name").input("Bob's alert edits")
    at.text_area(key="explore_save_description").input("threshold changes")
    at.checkbox(key="explore_save_shared").check()
    _button(at, "Save search").click().run()
    assert not at.exception
    (search,) = saved_searches.list_searches(known, "org_a", "ann@company.com")
    assert (search.name, search.query, search.owner, search.visibility, search.description) == (
        "Bob's alert edits",
        "user:bob@company.com family:config_change",
        "ann@company.com",
        "shared",
        "threshold changes",
    )
    assert _param(at, "saved") == str(search.search_id)
    # The form is empty again, the view unchanged and captioned with the search.
    assert at.text_input(key="explore_save_name").value == ""
    assert _metric(at) == "7"
    assert any(md("Bob's alert edits") in c.value for c in at.caption)
    (saved,) = _audit(known, "org_a", "save_search")
    assert saved["user_id"] == "ann@company.com" and saved["details"]["name"] == "Bob's alert edits"


def test_the_save_form_shows_the_query_as_plain_text(known, sign_in):
    # No st.code on Explore's default view: it would load the browser's syntax highlighter
    # for a line inside a closed expander.
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="family:config_change user:bob@company.com").run()
    assert not at.code
    assert "user:bob@company.com family:config_change" in [t.value for t in at.text]


def test_opening_a_saved_search_by_link_gives_its_query_and_results(known, sign_in):
    search = saved_searches.save(
        known, "org_a", "bob@company.com", "ann's searches", "user:u_ann", shared=True
    )
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, saved=str(search.search_id)).run()
    assert not at.exception
    assert at.text_input(key="explore_query").value == "user:u_ann"
    assert _param(at, "q") == "user:u_ann"
    assert _metric(at) == "120"
    direct = page_test("explore.py", token, q="user:u_ann").run()
    assert _metric(direct) == _metric(at)
    # Opening is recorded as viewing that search.
    (opened,) = [
        e for e in _audit(known, "org_a", "view_entry") if e["resource_id"].startswith("saved")
    ]
    assert opened["resource_id"] == f"saved_search/{search.search_id}"


def test_a_link_by_name_becomes_the_link_by_id(known, sign_in):
    search = saved_searches.save(known, "org_a", "ann@company.com", "Bob", "user:u_bob")
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, saved="bob").run()  # names match in any case
    assert not at.exception
    assert _param(at, "saved") == str(search.search_id)
    assert _metric(at) == "7"


def test_narrowing_the_view_drops_the_search_from_the_url(known, sign_in):
    search = saved_searches.save(known, "org_a", "ann@company.com", "ann", "user:u_ann")
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, saved=str(search.search_id)).run()
    at.text_input(key="explore_query").input("user:u_ann n=119").run()
    assert not at.exception
    assert _param(at, "saved") is None and _param(at, "q") == "user:u_ann n=119"
    assert _metric(at) == "1"
    # Opening it again from the list restores its view.
    at.selectbox(key="explore_saved_pick").select(search.search_id).run()
    _button(at, "Open").click().run()
    assert not at.exception
    assert _param(at, "saved") == str(search.search_id)
    assert at.text_input(key="explore_query").value == "user:u_ann"
    assert _metric(at) == "120"


def test_others_private_searches_and_other_organisations_stay_unknown(known, sign_in):
    private = saved_searches.save(known, "org_a", "bob@company.com", "bob's own", "user:u_bob")
    elsewhere = saved_searches.save(known, "org_b", "ann@company.com", "in b", "user:u_mallory")
    saved_searches.save(known, "org_a", "bob@company.com", "bob's shared", "n=1", shared=True)
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, saved=str(private.search_id)).run()
    assert not at.exception
    # As unknown as a search that does not exist: not even its name.
    assert md(f"no saved search id {private.search_id} in organisation org_a") in at.error[0].value
    assert "bob" not in at.error[0].value
    assert _param(at, "saved") is None
    assert _metric(at) == "128"  # the unfiltered view, not bob's
    at = page_test("explore.py", token, saved=str(elsewhere.search_id)).run()
    assert md("no saved search") in at.error[0].value and _metric(at) == "128"
    # The list offers what ann may open: bob's shared search only.
    at = page_test("explore.py", token).run()
    options = at.selectbox(key="explore_saved_pick").options
    assert options == ["bob's shared (by bob@company.com, shared)"]
    at.selectbox(key="explore_saved_pick").select_index(0).run()
    assert [b.label for b in at.button if b.label in ("Rename", "Delete…")] == []
    assert "Make an alert from it" in [b.label for b in at.button]


def test_only_those_who_make_alerts_are_offered_to(known, sign_in):
    search = saved_searches.save(known, "org_a", "aud@company.com", "mine", "user:u_bob")
    token = sign_in("aud@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, saved=str(search.search_id)).run()
    at.selectbox(key="explore_saved_pick").select(search.search_id).run()
    labels = [b.label for b in at.button]
    assert "Open" in labels and "Rename" in labels and "Make an alert from it" not in labels


def test_the_owner_renames_and_deletes(known, sign_in):
    search = saved_searches.save(known, "org_a", "ann@company.com", "first", "user:u_bob")
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, saved=str(search.search_id)).run()
    at.selectbox(key="explore_saved_pick").select(search.search_id).run()
    at.text_input(key=f"explore_saved_rename_{search.search_id}").input("second")
    _button(at, "Rename").click().run()
    assert not at.exception
    assert saved_searches.get(known, "org_a", "ann@company.com", search.search_id).name == "second"
    # A name another search holds is refused with the store's one-line reason.
    saved_searches.save(known, "org_a", "ann@company.com", "Taken", "n=1")
    at.text_input(key=f"explore_saved_rename_{search.search_id}").input("taken")
    _button(at, "Rename").click().run()
    assert md("exists already") in at.error[0].value
    _button(at, "Delete…").click().run()
    _button(at, "Yes, delete").click().run()
    assert not at.exception
    names = [s.name for s in saved_searches.list_searches(known, "org_a", "ann@company.com")]
    assert names == ["Taken"]
    assert _param(at, "saved") is None
    assert [e["details"]["name"] for e in _audit(known, "org_a", "delete_saved_search")] == [
        "second"
    ]


def test_a_hostile_name_and_description_show_as_text(known, sign_in):
    search = saved_searches.save(
        known, "org_a", "ann@company.com", HOSTILE, "user:u_bob", description=HOSTILE
    )
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, saved=str(search.search_id)).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Saved search"))
    assert md(HOSTILE) in caption
    _assert_inert(_rendered(at))
    # Tables and pickers show the typed text itself.
    assert at.dataframe[0].value["name"].tolist() == [HOSTILE]
    assert at.selectbox(key="explore_saved_pick").options == [f"{HOSTILE} (yours, private)"]


def test_a_link_naming_nothing_is_a_one_line_error_and_the_plain_view(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "analyst")
    for value in ("x" * 5000, "1; DROP TABLE saved_searches", "9" * 30, "0", "-1", "名前"):
        at = page_test("explore.py", token, saved=value).run()
        assert not at.exception, value
        assert md("no saved search") in at.error[0].value and "\n" not in at.error[0].value
        assert _param(at, "saved") is None and _metric(at) == "128"
