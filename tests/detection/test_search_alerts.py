"""Alerts from saved searches, evaluated by detection as rules of the `search` kind: the dry
run equals what the switched-on alert produces, and the conditions count as they say.

The world is built here: four users at work for three weeks, and planted exports of the
payments source: a burst by one user, a burst spread over three users, a lone export."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from detection.findings import list_findings
from detection.pipeline import run_detection
from detection.rules import KINDS, RuleLoadError
from detection.rules.schema import SEVERITIES as DETECTION_SEVERITIES
from detection.rules.stored import organisation_rules, search_rule
from detection.schedule import detect_and_notify
from sql.event_store import insert_events
from sql.gateway import Database
from sql.saved_searches import SavedSearchError, lock_searches
from sql.search_alerts import SEVERITIES, list_alerts
from tests.factories import event_row
from usecases.saved_searches import delete, get, save, update
from usecases.search_alerts import AlertError, AlertSpec, create, disable, dry_run, enable

FIRST = date(2025, 2, 3)
LAST = FIRST + timedelta(days=20)
USERS = ("ann", "bob", "cat", "dan")
ANALYST = "lee@x.com"
QUERY = "action:export resource:payments"
# The planted days, after two weeks of ordinary work.
ANN_BURST, SPREAD_BURST, LONE = (FIRST + timedelta(days=d) for d in (15, 16, 18))


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _export(user: str | None, at: datetime, **extra: object) -> tuple:
    fields = {"user_id": user, "user_email": f"{user}@x.com" if user else None, **extra}
    return event_row(
        event_type="data_modification",
        event_action="export",
        resource_id="payments",
        event_time=at,
        details={"records_exported": 10},
        **fields,
    )


def _world() -> list[tuple]:
    rows = []
    for offset in range((LAST - FIRST).days + 1):
        day = FIRST + timedelta(days=offset)
        for n, user in enumerate(USERS):
            for k in range(8):
                rows.append(
                    event_row(
                        user_id=user,
                        user_email=f"{user}@x.com",
                        event_action="view",
                        resource_id=f"logs_{k % 3}",
                        event_time=_at(day, 9 + k, 5 * n),
                    )
                )
    # Ann: six exports in 25 minutes.
    rows += [_export("ann", _at(ANN_BURST, 10, 5 * i)) for i in range(6)]
    # Bob, Cat and Dan: two each within 27 minutes; six together, never more than two each.
    rows += [
        _export(user, _at(SPREAD_BURST, 14, 25 * i + n))
        for i in range(2)
        for n, user in enumerate(("bob", "cat", "dan"))
    ]
    # A lone export by Bob.
    rows.append(_export("bob", _at(LONE, 11)))
    # Another organisation's exports never reach org_a's alerts.
    rows += [_export("eve", _at(ANN_BURST, 10, i), organization_id="org_b") for i in range(9)]
    return rows


@pytest.fixture
def world(db: Database) -> Database:
    with db.writer() as w:
        insert_events(w, _world())
    save(db, "org_a", ANALYST, "Payment exports", QUERY, "exports of the payments source")
    return db


def _hit_keys(hits) -> set[tuple]:
    return {
        (h.rule_id, h.user_id, h.day, h.severity, h.window_start, h.window_end, h.reason,
         h.evidence_query)
        for h in hits
    }  # fmt: skip


def test_a_dry_run_equals_what_the_switched_on_alerts_produce(world: Database):
    db = world
    alerts = [
        create(db, "org_a", ANALYST, "payment exports", severity="high"),
        create(db, "org_a", ANALYST, "Payment exports", condition="count", threshold=5,
               window_minutes=60, severity="critical"),
        create(db, "org_a", ANALYST, "Payment exports", condition="per_user", threshold=3,
               window_minutes=60, severity="medium"),
    ]  # fmt: skip
    assert organisation_rules(db, "org_a") == []  # made switched off
    days = (LAST - FIRST).days + 1
    dry = {a.rule_id: dry_run(db, "org_a", a.alert_id, days=days, today=LAST) for a in alerts}
    assert all(run.start_day == FIRST and run.end_day == LAST for run in dry.values())
    assert all(run.hits for run in dry.values())
    for alert in alerts:
        enable(db, "org_a", ANALYST, alert.alert_id)
    result, window, _ = run_detection(
        db, "org_a", start=FIRST, end=LAST, actor="test", today=LAST + timedelta(days=1)
    )
    assert result is not None and window == (FIRST, LAST) and result.rule_errors == {}
    stored = list_findings(db, "org_a", limit=1000)
    for alert in alerts:
        live = [h for h in result.hits if h.rule_id == alert.rule_id]
        assert _hit_keys(live) == _hit_keys(dry[alert.rule_id].hits)
        # Each hit is a finding naming the alert among its detectors (alone it would be too).
        fired = {(h.user_id, h.day) for h in dry[alert.rule_id].hits}
        named = {(f.user_id, f.day) for f in result.findings if alert.rule_id in f.detectors}
        assert named == fired == {(f.user_id, f.day) for f in dry[alert.rule_id].findings}
    # Stored as detection stores every finding, with the saved search in title and explanation.
    assert sorted(
        zip(stored["user_id"], stored["title"], stored["explanation"], strict=True)
    ) == sorted((f.user_id, f.title, f.explanation) for f in result.findings)
    ann = stored.loc[(stored["user_id"] == "ann") & (stored["window_start"].dt.date == ANN_BURST)]
    ann = ann.iloc[0]
    assert "Saved search: Payment exports" in ann["title"]
    assert "6 matches of saved search 'Payment exports' by this user" in ann["explanation"]


def test_count_and_per_user_thresholds_fire_on_what_they_say(world: Database):
    db = world
    # An export by nobody (a service): counted, but it names no user to alert on.
    with db.writer() as w:
        insert_events(w, [_export(None, _at(LONE, 11, 1))])
    per_user = create(db, "org_a", ANALYST, "Payment exports", condition="per_user",
                      threshold=3, window_minutes=60)  # fmt: skip
    count = create(db, "org_a", ANALYST, "Payment exports", condition="count",
                   threshold=5, window_minutes=60)  # fmt: skip
    any_match = create(db, "org_a", ANALYST, "Payment exports")
    narrow = create(db, "org_a", ANALYST, "Payment exports", condition="count",
                    threshold=5, window_minutes=20)  # fmt: skip

    def fired(alert) -> set[tuple[str, date]]:
        run = dry_run(db, "org_a", alert.alert_id, days=21, today=LAST)
        return {(h.user_id, h.day) for h in run.hits}

    # One user over three in an hour: Ann's burst only; the spread burst is two each.
    assert fired(per_user) == {("ann", ANN_BURST)}
    # More than five of anyone's in an hour: Ann's six, and the six of Bob, Cat and Dan.
    assert fired(count) == {
        ("ann", ANN_BURST), ("bob", SPREAD_BURST), ("cat", SPREAD_BURST), ("dan", SPREAD_BURST),
    }  # fmt: skip
    # Every match that names a user; the service's export names no one.
    assert fired(any_match) == fired(count) | {("bob", LONE)}
    # It fired for every active user, which would demote a shipped rule three steps; the
    # severity an analyst chose for their own alert stands.
    assert {h.severity for h in dry_run(db, "org_a", any_match.alert_id, today=LAST).hits} == {
        "high"
    }
    # Within 20 minutes Ann's six (25 minutes) and the spread six (27 minutes) are never six.
    assert fired(narrow) == set()
    run = dry_run(db, "org_a", count.alert_id, days=21, today=LAST)
    bob = next(h for h in run.hits if h.user_id == "bob")
    assert bob.reason == (
        "6 matches of saved search 'Payment exports' within 60 minutes across the"
        " organisation (more than 5), 2 of them this user's"
    )
    # The evidence is the search narrowed to the user and the burst: it parses and finds them.
    assert bob.evidence_query.startswith("user:bob action:export resource:payments created:")


def test_a_new_alert_can_be_dry_run_before_it_is_made(world: Database):
    spec = AlertSpec("per_user", 3, 60, "high")
    run = dry_run(world, "org_a", spec, search="payment exports", actor=ANALYST, today=LAST)
    assert {(h.user_id, h.day) for h in run.hits} == {("ann", ANN_BURST)}
    with pytest.raises(AlertError, match="names its search"):
        dry_run(world, "org_a", spec, today=LAST)


def test_another_organisation_cannot_see_run_or_switch_the_alerts(world: Database):
    alert = create(world, "org_a", ANALYST, "Payment exports")
    with pytest.raises(AlertError, match=f"no alert {alert.alert_id} in organisation org_b"):
        dry_run(world, "org_b", alert.alert_id, today=LAST)
    with pytest.raises(AlertError, match="in organisation org_b"):
        enable(world, "org_b", ANALYST, alert.alert_id)
    with pytest.raises(AlertError, match="in organisation org_b"):
        dry_run(world, "org_b", alert, today=LAST)  # the object names org_a's alert
    enable(world, "org_a", ANALYST, alert.alert_id)
    assert organisation_rules(world, "org_b") == []
    assert [r.id for r in organisation_rules(world, "org_a")] == [alert.rule_id]
    # org_b's own search of the same query sees only org_b's events.
    save(world, "org_b", ANALYST, "Payment exports", QUERY)
    theirs = create(world, "org_b", ANALYST, "Payment exports")
    run = dry_run(world, "org_b", theirs.alert_id, today=LAST)
    assert {h.user_id for h in run.hits} == {"eve"}


def test_switching_is_audited_under_the_names_the_evidence_pack_reads(world: Database):
    alert = create(world, "org_a", ANALYST, "Payment exports")
    enable(world, "org_a", ANALYST, alert.alert_id)
    with pytest.raises(AlertError, match="is switched on already"):
        enable(world, "org_a", ANALYST, alert.alert_id)
    disable(world, "org_a", "mal@x.com", alert.alert_id, "Testing, will re-enable")
    with world.org_session("org_a") as session:
        rows = session.execute(
            "SELECT event_action, user_id, resource_id, details->>'reason' FROM org_audit_events"
            " WHERE own_use AND resource_type = 'search_alert' ORDER BY ingest_seq"
        ).rows
    assert [tuple(r) for r in rows] == [
        ("create_alert", ANALYST, alert.rule_id, None),
        ("enable_alert", ANALYST, alert.rule_id, None),
        ("disable_alert", "mal@x.com", alert.rule_id, "Testing, will re-enable"),
    ]
    assert organisation_rules(world, "org_a") == []


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (dict(condition="sometimes"), "condition must be one of any, count, per_user"),
        (dict(severity="urgent"), "severity must be one of low, medium, high, critical"),
        (dict(condition="count", threshold=-1), r"threshold must be a whole number in \[0,"),
        (dict(condition="count", window_minutes=0), r"window must be a whole number in \[1,"),
        (dict(threshold=2), "threshold: an 'any' alert fires on every match"),
    ],
)
def test_bad_alerts_are_one_line_errors_naming_the_field(world: Database, spec, error):
    with pytest.raises(AlertError, match=error):
        create(world, "org_a", ANALYST, "Payment exports", **spec)


def test_the_search_kind_checks_its_query_like_any_rule_file():
    from detection.rules import parse_rule

    with pytest.raises(RuleLoadError, match=r"parameters\.query: .*query error"):
        parse_rule(
            {"id": "bad-search", "title": "t", "severity": "high", "description": "d",
             "kind": "search", "parameters": {"query": "created:nope"}},
            "bad.yml",
        )  # fmt: skip
    assert "search" in KINDS and DETECTION_SEVERITIES == SEVERITIES


def test_the_next_matching_event_makes_a_finding_in_the_next_scheduled_run(world: Database):
    db = world
    today = LAST + timedelta(days=1)
    alert = create(db, "org_a", ANALYST, "Payment exports", severity="high")
    enable(db, "org_a", ANALYST, alert.alert_id)
    first = detect_and_notify(db, "org_a", today=today, wait=True)
    assert first.days is not None and first.current_day is None
    with db.writer() as w:
        insert_events(w, [_export("cat", _at(today, 9, 30))])
    tick = detect_and_notify(db, "org_a", today=today, wait=True)
    assert tick.current_day == today and tick.inserted >= 1
    found = list_findings(db, "org_a", since=today, limit=100)
    cat = found.loc[found["user_id"] == "cat"].iloc[0]
    assert alert.rule_id in cat["detectors"] and cat["title"] == "Saved search: Payment exports"
    assert cat["evidence_query"].startswith("user:cat action:export resource:payments created:")


def test_an_alert_matching_too_much_is_reported_and_the_other_rules_still_run(
    world: Database, monkeypatch: pytest.MonkeyPatch
):
    db = world
    save(db, "org_a", ANALYST, "Everything", "")
    wide = create(db, "org_a", ANALYST, "Everything")
    narrow = create(db, "org_a", ANALYST, "Payment exports")
    for alert in (wide, narrow):
        enable(db, "org_a", ANALYST, alert.alert_id)
    monkeypatch.setattr("detection.rules.kinds.search.MAX_MATCHES", 50)
    with pytest.raises(AlertError, match=r"query: .*more than 50 events match"):
        dry_run(db, "org_a", wide.alert_id, today=LAST)
    result, _, _ = run_detection(
        db, "org_a", start=FIRST, end=LAST, actor="test", today=LAST + timedelta(days=1)
    )
    assert result is not None and list(result.rule_errors) == [wide.rule_id]
    assert "narrow the search" in result.rule_errors[wide.rule_id]
    assert any(h.rule_id == narrow.rule_id for h in result.hits)


def test_alerts_read_the_organisations_events_not_auditlens_own_use(world: Database):
    save(world, "org_a", ANALYST, "Own exports", "stream:auditlens action:export")
    with pytest.raises(AlertError, match=r"'Own exports' reads AuditLens's own use"):
        create(world, "org_a", ANALYST, "Own exports")
    create(world, "org_a", ANALYST, "Payment exports")
    with pytest.raises(SavedSearchError, match=r"would read AuditLens's own use .* alert\(s\) 1$"):
        update(world, "org_a", ANALYST, "Payment exports", query="stream:auditlens")
    with pytest.raises(RuleLoadError, match="not stream:auditlens"):
        search_rule("org_a", "x-1", "n", "stream:auditlens", AlertSpec())


def test_a_deleted_searchs_alerts_stay_listed_and_cannot_be_switched_on(world: Database):
    alert = create(world, "org_a", ANALYST, "Payment exports")
    enable(world, "org_a", ANALYST, alert.alert_id)
    with pytest.raises(SavedSearchError, match=r"feeds alert\(s\) 1, switched on; disable"):
        delete(world, "org_a", ANALYST, "Payment exports")
    disable(world, "org_a", ANALYST, alert.alert_id)
    delete(world, "org_a", ANALYST, "Payment exports")
    (listed,) = list_alerts(world, "org_a")
    assert listed.search_deleted and not listed.enabled
    with pytest.raises(AlertError, match="search 'Payment exports' was deleted"):
        enable(world, "org_a", ANALYST, alert.alert_id)
    with pytest.raises(AlertError, match="was deleted"):
        dry_run(world, "org_a", alert.alert_id, today=LAST)


OWNER, OTHER = "ann@x.com", "mal@x.com"


def test_a_search_another_users_alert_uses_cannot_be_made_private(db: Database):
    search = save(db, "org_a", OWNER, "Secret thing", QUERY, shared=True)
    own = create(db, "org_a", OWNER, "Secret thing", severity="low")
    theirs = create(db, "org_a", OTHER, "Secret thing", severity="high")
    also = create(db, "org_a", OTHER, "Secret thing", severity="medium")
    refusal = (
        r"^search: 'Secret thing' feeds 2 alert\(s\) made by other users \(2, 3\); a search"
        r" stays shared while another user's alert uses it \(disable them, then delete it\)$"
    )
    with pytest.raises(SavedSearchError, match=refusal):
        update(db, "org_a", OWNER, search.search_id, shared=False)
    # Switched off is not enough: an alert switched off can be switched on and dry run again.
    for alert in (theirs, also):
        enable(db, "org_a", OTHER, alert.alert_id)
        disable(db, "org_a", OTHER, alert.alert_id)
    with pytest.raises(SavedSearchError, match=refusal):
        update(db, "org_a", OWNER, search.search_id, shared=False, query="user:bob")
    assert get(db, "org_a", OTHER, search.search_id) == search  # nothing of it changed
    assert dry_run(db, "org_a", theirs.alert_id, today=LAST).hits == []
    # What remains is taking it back: deleted, then saved again as private.
    delete(db, "org_a", OWNER, search.search_id)
    again = save(db, "org_a", OWNER, "Secret thing", QUERY)
    with pytest.raises(SavedSearchError, match=r"^search: no saved search id \d+ in organisation"):
        create(db, "org_a", OTHER, again.search_id)
    # The owner's own alerts never hold their search shared.
    mine = save(db, "org_a", OWNER, "Mine", QUERY, shared=True)
    create(db, "org_a", OWNER, "Mine")
    assert not update(db, "org_a", OWNER, "Mine", shared=False).shared
    assert own.alert_id not in (theirs.alert_id, also.alert_id) and mine.owner == OWNER


def test_an_alert_is_never_made_on_a_search_made_private_meanwhile(db: Database):
    search = save(db, "org_a", OWNER, "Secret thing", QUERY, shared=True)
    outcome: list[object] = []

    def other_users_create() -> None:
        try:
            outcome.append(create(db, "org_a", OTHER, search.search_id))
        except (AlertError, SavedSearchError) as exc:
            outcome.append(exc)

    with db.admin() as session:
        # The owner makes it private, as update does, and has not committed yet...
        lock_searches(session, "org_a")
        session.execute(
            "UPDATE saved_searches SET visibility = 'private' WHERE organization_id = 'org_a'"
            " AND search_id = :id",
            {"id": search.search_id},
        )
        creator = threading.Thread(target=other_users_create)
        creator.start()
        # ...while the other user's create runs: until it waits for a lock, or is done.
        while creator.is_alive():
            with db.admin() as watcher:
                if watcher.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                    break
            creator.join(timeout=0.05)
    creator.join()
    (refused,) = outcome
    assert isinstance(refused, SavedSearchError)
    assert str(refused) == f"search: no saved search id {search.search_id} in organisation org_a"
    assert list_alerts(db, "org_a") == []
