"""The Integrity page: last seal, last verification and its findings, one organisation only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from integrity import keys as keymod
from integrity import status as status_module
from integrity.seal import seal_organization
from integrity.verify import verify_organization
from sql.event_store import insert_events
from sql.holds import lift_hold, place_hold
from tests.dashboard.conftest import page_test
from tests.factories import event_row

RECENT = datetime.now(UTC) - timedelta(hours=1)


def _seed(db):
    key = keymod.generate()
    trusted = keymod.PublicKeys({key.key_id: key.public})
    rows = [event_row(event_time=RECENT) for _ in range(3)]
    rows.append(event_row(organization_id="org_b", id="b_secret", event_time=RECENT))
    with db.writer() as w:
        insert_events(w, rows)
    for org in ("org_a", "org_b"):
        seal_organization(db, org, key)
    with db.engine.connect() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("DELETE FROM audit_events WHERE id = 'b_secret'"))
        conn.commit()
    for org in ("org_a", "org_b"):
        verify_organization(db, org, trusted, actor="cli:ops")
    return rows


def test_clean_organisation_shows_its_last_seal_and_verification(dashboard_db, sign_in):
    _seed(dashboard_db)
    at = page_test("tamper_evidence.py", sign_in("lead@company.com", "org_a", "auditor")).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Last seal"] == "#1"
    assert metrics["Last verification"] == "clean"
    assert any("exactly as sealed" in s.value for s in at.success)
    seals = at.dataframe[0].value
    assert list(seals["event_count"]) == [3]
    assert "b_secret" not in " ".join(str(v) for v in seals.to_numpy().ravel())


def test_findings_name_the_event(dashboard_db, sign_in):
    _seed(dashboard_db)
    at = page_test("tamper_evidence.py", sign_in("eve@company.com", "org_b", "admin")).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Last verification"] == "1 problem"
    findings = at.dataframe[0].value
    assert list(findings["event_id"]) == ["b_secret"]
    assert list(findings["kind"]) == ["event_deleted"]


def test_never_sealed_organisation_says_what_to_run(dashboard_db, sign_in):
    at = page_test("tamper_evidence.py", sign_in("new@company.com", "org_c", "analyst")).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Last seal"] == "none yet"
    assert any("auditlens verify" in i.value for i in at.info)


def test_counts_have_thousands_separators(dashboard_db, sign_in):
    key = keymod.generate()
    with dashboard_db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT) for _ in range(1_247)])
    seal_organization(dashboard_db, "org_a", key)
    with dashboard_db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT) for _ in range(1_001)])
    at = page_test("tamper_evidence.py", sign_in("lead@company.com", "org_a", "auditor")).run()
    assert not at.exception
    # 1,001 events plus the dashboard's own audit events of the sign-in and page view.
    assert re.fullmatch(r"1,0\d\d", {m.label: m.value for m in at.metric}["Not sealed yet"])
    assert any("1 seal over 1,247 events" in c.value for c in at.caption)


def test_a_long_unsealed_backlog_is_counted_up_to_a_cap(dashboard_db, sign_in, monkeypatch):
    """Never counted whole on a page view (seconds at 10M events): past the cap it says so."""
    with dashboard_db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT) for _ in range(30)])
    monkeypatch.setattr(status_module, "UNSEALED_COUNT_CAP", 25)
    at = page_test("tamper_evidence.py", sign_in("lead@company.com", "org_a", "auditor")).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Not sealed yet"] == "over 25"
    status = status_module.integrity_status(dashboard_db, "org_a")
    assert status.unsealed_over_cap and status.unsealed_events == 25
    monkeypatch.setattr(status_module, "UNSEALED_COUNT_CAP", 1_000)
    status = status_module.integrity_status(dashboard_db, "org_a")
    assert not status.unsealed_over_cap and 30 <= status.unsealed_events < 40


def test_unsealed_events_come_with_a_warning_and_the_steps_in_order(dashboard_db, sign_in):
    with dashboard_db.writer() as w:
        insert_events(w, [event_row(organization_id="org_c", event_time=RECENT)])
    at = page_test("tamper_evidence.py", sign_in("new@company.com", "org_c", "analyst")).run()
    assert not at.exception
    # The page's own view is an event too: at least the one inserted above.
    (warning,) = [w.value for w in at.warning if "not sealed yet" in w.value]
    assert re.match(r"^[\d,]+ events? (is|are) not sealed yet: a change to them", warning)
    steps = next(m.value for m in at.markdown if "To seal them" in m.value)
    order = [
        "auditlens signing-key create",
        "AUDITLENS_SIGNING_KEY_FILE=",
        "auditlens seal --org org_c",
        "auditlens verify --org org_c",
    ]
    positions = [steps.index(step) for step in order]
    assert positions == sorted(positions)


def test_legal_holds_are_listed_as_text_for_this_organisation_only(dashboard_db, sign_in):
    hostile = "[click](https://evil.example) **now** :red[x] <b>bold</b>"
    with dashboard_db.writer() as w:
        insert_events(w, [event_row(user_id="u_suspect", event_time=RECENT)])
    held = place_hold(
        dashboard_db, "org_a", "user:u_suspect", reason=hostile, reference="CASE-1", actor="t:a"
    )
    lifted = place_hold(
        dashboard_db, "org_a", "user:u_other", reason="old case", reference="CASE-0", actor="t:a"
    )
    lift_hold(dashboard_db, "org_a", lifted.hold_id, reason="settled", actor="t:lifter")
    place_hold(
        dashboard_db, "org_b", "user:u1", reason="b secret", reference="B-SECRET", actor="t:b"
    )
    at = page_test("tamper_evidence.py", sign_in("lead@company.com", "org_a", "auditor")).run()
    assert not at.exception
    (holds,) = [d.value for d in at.dataframe if "reference" in d.value.columns]
    by_ref = holds.set_index("reference")
    assert set(by_ref.index) == {"CASE-1", "CASE-0"}
    assert by_ref.loc["CASE-1", "reason"] == hostile
    assert by_ref.loc["CASE-1", "status"] == "active"
    assert by_ref.loc["CASE-1", "events_held"] == 1
    assert by_ref.loc["CASE-1", "placed_by"] == "t:a"
    assert "u_suspect" in by_ref.loc["CASE-1", "covers"]
    assert by_ref.loc["CASE-0", "status"] == "lifted"
    assert by_ref.loc["CASE-0", "lifted_by"] == "t:lifter"
    assert held.hold_id in set(holds["hold"])
    shown_text = " ".join(str(v) for v in holds.to_numpy().ravel())
    assert "B-SECRET" not in shown_text and "b secret" not in shown_text
    # Nothing of the hostile reason reached Markdown anywhere on the page.
    assert not any("evil.example" in m.value for m in [*at.markdown, *at.caption])
