"""The Anomalies page: findings ranked by score with their reasons, selecting one shows its
evidence query and the drill-down, triage is recorded and audited, auditors cannot triage,
and another organisation's findings never show."""

from __future__ import annotations

from dashboard.markdown_text import md
from tests.dashboard.conftest import EXPLORE, page_test
from tests.dashboard.known_data import seed_findings


def _select(at, row):
    at.session_state["anomalies_table"] = {"selection": {"rows": [row], "columns": []}}
    return at.run()


def test_findings_are_ranked_and_open_to_their_evidence(dashboard_db, sign_in):
    seed_findings(dashboard_db)
    at = page_test("anomalies.py", sign_in("ann@company.com", "org_a", "analyst")).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["title"]) == ["Export at 2 a.m.", "Config burst"]
    assert table["reasons"][0].startswith("large_export, model: Export at 2 a.m.")
    assert "Org B secret" not in set(table["title"])
    at = _select(at, 0)
    assert not at.exception
    assert at.subheader[0].value == md("Export at 2 a.m.")
    assert [c.value for c in at.code] == [
        "user:u_john action:export created:2025-01-15..2025-01-15"
    ]
    drill = [b for b in at.button if b.key == "anomalies_evidence_drill"]
    # The button opens Explore; without that page the exact query alone is shown.
    assert len(drill) == (1 if EXPLORE.exists() else 0)


def test_triage_is_saved_and_audited(dashboard_db, sign_in):
    seed_findings(dashboard_db)
    at = _select(page_test("anomalies.py", sign_in("ann@company.com", "org_a", "analyst")).run(), 0)
    at.selectbox(key="anomalies_triage_status").set_value("confirmed")
    at.text_area(key="anomalies_triage_comment").input("talked to john")
    next(b for b in at.button if b.label == "Save triage").click().run()
    assert not at.exception
    at.selectbox(key="anomalies_status").set_value("confirmed").run()
    table = at.dataframe[0].value
    assert list(table["title"]) == ["Export at 2 a.m."]
    with dashboard_db.org_session("org_a") as s:
        audited = s.execute(
            "SELECT details FROM org_audit_events WHERE event_action = 'triage_finding'"
        ).rows
    assert len(audited) == 1 and audited[0][0]["status"] == {"old": "new", "new": "confirmed"}


def test_triage_says_what_benign_silences_and_for_how_long(dashboard_db, sign_in):
    from detection.settings import save_calibration

    seed_findings(dashboard_db)
    save_calibration(dashboard_db, "org_a", actor="admin", benign_suppression_days=14)
    at = _select(page_test("anomalies.py", sign_in("ann@company.com", "org_a", "analyst")).run(), 0)
    assert not at.exception
    notes = [c.value for c in at.caption if c.value.startswith("Benign silences")]
    assert notes and "large" in notes[0] and "14 days" in notes[0] and "model" not in notes[0]


def test_auditors_read_but_do_not_triage(dashboard_db, sign_in):
    seed_findings(dashboard_db)
    at = _select(page_test("anomalies.py", sign_in("aud@company.com", "org_a", "auditor")).run(), 0)
    assert not at.exception
    assert not [s for s in at.selectbox if s.key == "anomalies_triage_status"]
    assert any("analysts and admins triage" in c.value for c in at.caption)


def test_other_organisation_sees_only_its_findings(dashboard_db, sign_in):
    seed_findings(dashboard_db)
    at = page_test("anomalies.py", sign_in("eve@org-b.com", "org_b", "admin")).run()
    assert not at.exception
    assert list(at.dataframe[0].value["title"]) == ["Org B secret"]


def test_triage_keeps_its_history_and_the_comment_box_clears(dashboard_db, sign_in):
    seed_findings(dashboard_db)
    at = _select(page_test("anomalies.py", sign_in("ann@company.com", "org_a", "analyst")).run(), 0)
    assert [m.value for m in at.metric if m.label == "Status"] == ["new"]
    for status, comment in (("investigating", "asking john"), ("confirmed", "john admitted it")):
        at.selectbox(key="anomalies_triage_status").set_value(status)
        at.text_area(key="anomalies_triage_comment").input(comment)
        next(b for b in at.button if b.label == "Save triage").click().run()
        assert not at.exception
    assert at.text_area(key="anomalies_triage_comment").value == ""
    assert [m.value for m in at.metric if m.label == "Status"] == ["confirmed"]
    history = at.dataframe[1].value  # the findings, then the history
    assert list(history["status"]) == ["confirmed", "investigating"]  # newest first
    assert list(history["comment"]) == ["john admitted it", "asking john"]
    assert set(history["actor"]) == {"ann@company.com"}
    assert history["created_at"].notna().all()


def test_the_finding_in_the_url_opens_without_a_selection(dashboard_db, sign_in):
    seed_findings(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = _select(page_test("anomalies.py", token).run(), 0)
    finding_id = at.query_params["finding"]
    assert finding_id
    # Back from Explore: the page loads afresh with the URL it had.
    again = page_test("anomalies.py", token, finding=finding_id).run()
    assert not again.exception
    assert again.subheader[0].value == md("Export at 2 a.m.")
    # Another organisation's finding id shows nothing.
    other = page_test("anomalies.py", token, finding="x' OR '1'='1").run()
    assert not other.exception and not other.subheader


def test_the_page_says_which_days_detection_covered(dashboard_db, sign_in):
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("anomalies.py", token).run()
    assert any("Detection has not run yet" in c.value for c in at.caption)
    seed_findings(dashboard_db)
    at = page_test("anomalies.py", token).run()
    assert any(
        "covered the UTC days 2025-01-15 to 2025-01-15" in c.value and "last ran" in c.value
        for c in at.caption
    )
