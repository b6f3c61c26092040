"""'Who accessed it' names everyone the events name: a producer that sends only an email, or
an empty user id, must not vanish into one blank row. One rule (sql/user_identity.py) names
and counts a person on the page, in the printable report and against the CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from sql.event_store import insert_events
from sql.rollup.refresh import refresh
from sql.user_identity import UNKNOWN, identity_key, identity_label, shown
from tests.factories import event_row
from usecases.access_report import (
    access_details,
    access_query,
    build_access_report,
    report_html,
    write_csv,
)
from usecases.exports import Exporter

WHEN = datetime(2026, 11, 4, 12, tzinfo=UTC)
QUERY = access_query("customer-data", "source", date(2026, 11, 1), date(2026, 11, 30))


def _access(org: str = "payments-co", **fields):
    values = {
        "organization_id": org,
        "resource_type": "source",
        "resource_id": "customer-data",
        "event_time": WHEN,
        **fields,
    }
    return event_row(**values)


def test_an_email_only_user_is_named_in_who_accessed_it(db):
    with db.writer() as w:
        insert_events(
            w,
            [
                _access(id="a", user_id="ann", user_email="ann@x.com"),
                _access(id="b", user_id=None, user_email="bob@x.com"),
                _access(id="c", user_id=None, user_email="carol@x.com"),
            ],
        )
    report = build_access_report(db, "payments-co", QUERY, generated_by="t")
    named = set(report.by_user["user_email"].dropna())
    assert {"bob@x.com", "carol@x.com"} <= named, report.by_user.to_dict("records")
    assert report.summary["users"] == 3


def _mixed_world(db) -> None:
    """Every way an event can name (or fail to name) a person, in two organisations."""
    day2 = datetime(2026, 11, 6, 9, tzinfo=UTC)
    rows = [
        _access(id="1", user_id="ann", user_email="ann@x.com", ip_address="10.0.0.1"),
        _access(id="2", user_id="ann ", user_email="ann@x.com", ip_address="10.0.0.2"),
        _access(id="3", user_id=None, user_email="bob@x.com", event_action="export"),
        _access(id="4", user_id="", user_email="bob@x.com", event_time=day2),
        _access(id="5", user_id=" \t", user_email="carol@x.com", ip_address="10.0.0.3"),
        _access(id="6", user_id="", user_email="carol@x.com", ip_address="10.0.0.4"),
        _access(id="7", user_id=None, user_email=None),
        _access(id="8", user_id="", user_email="  "),
        _access(id="9", user_id="bob@x.com", user_email="bob@x.com"),
        # Another organisation's people without ids: never in payments-co's report.
        _access(org="other-co", id="o1", user_id=None, user_email="mallory@x.com"),
        _access(org="other-co", id="o2", user_id="", user_email="bob@x.com"),
    ]
    with db.writer() as w:
        insert_events(w, rows)


EXPECTED = {
    # person: (accesses, active days)
    "ann": (1, 1),
    '"ann "': (1, 1),
    "bob@x.com": (2, 2),  # no id twice (NULL and "") on two days
    "carol@x.com": (2, 1),  # a blank and an empty id
    UNKNOWN: (2, 1),
}


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rolled-up"])
def test_every_person_has_one_row_by_the_identity_rule(db, rolled_up):
    _mixed_world(db)
    if rolled_up:
        refresh(db)
    report = build_access_report(db, "payments-co", QUERY, generated_by="t")
    rows = report.by_user.to_dict("records")
    got = Counter()
    for row in rows:
        got[row["person"]] += 1
    # "bob@x.com" twice: the user id and the email-only person are told apart by user_id.
    assert got == Counter({**dict.fromkeys(EXPECTED, 1), "bob@x.com": 2}), rows
    anonymous = {r["person"]: r for r in rows if r["user_id"] is None}
    for person, (accesses, days) in EXPECTED.items():
        if person in anonymous:
            assert (anonymous[person]["accesses"], anonymous[person]["active_days"]) == (
                accesses,
                days,
            ), person
    assert anonymous["bob@x.com"]["first_day"] == date(2026, 11, 4)
    assert anonymous["bob@x.com"]["last_day"] == date(2026, 11, 6)
    assert report.summary["users"] == len(rows) == 6
    assert report.summary["accesses"] == 9


def test_the_printable_report_gives_each_person_their_own_details(db):
    _mixed_world(db)
    report = build_access_report(db, "payments-co", QUERY, generated_by="t")
    details = access_details(db, "payments-co", report)
    by_person = {identity_label(u, e): r for u, e, r in zip(
        details.by_user["user_id"], details.by_user["user_email"],
        details.by_user.to_dict("records"), strict=True)}  # fmt: skip
    assert by_person["carol@x.com"]["ip_addresses"] == "10.0.0.3, 10.0.0.4"
    assert by_person["bob@x.com"]["actions"] == "export, search"
    assert by_person[UNKNOWN]["ip_addresses"] == "192.168.1.100"
    page = report_html(report, details)
    who = page.split("<h2>Who accessed it</h2>")[1].split("<h2>")[0]
    # One table row per person (a missing id matched with every other would multiply them).
    assert who.count("<tr>") == 1 + len(report.by_user)
    assert "&quot;ann &quot;" in who and UNKNOWN in who
    assert "mallory" not in page


def test_the_csv_counts_the_same_people_as_the_page(db):
    _mixed_world(db)
    refresh(db)
    report = build_access_report(db, "payments-co", QUERY, generated_by="t")
    out = io.BytesIO()
    write_csv(db, "payments-co", report, out, exporter=Exporter(user_id="t", email=None))
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
    from_csv = Counter(identity_key(r["user_id"], r["user_email"]) for r in rows)
    keys = [identity_key(u, e) for u, e in zip(
        report.by_user["user_id"], report.by_user["user_email"], strict=True)]  # fmt: skip
    page = dict(zip(keys, report.by_user["accesses"], strict=True))
    assert from_csv == page
    assert len(from_csv) == report.summary["users"]


def test_another_organisation_sees_only_its_own_people_without_ids(db):
    _mixed_world(db)
    report = build_access_report(db, "other-co", QUERY, generated_by="t")
    assert sorted(report.by_user["person"]) == ["bob@x.com", "mallory@x.com"]
    assert report.summary == {**report.summary, "users": 2, "accesses": 2}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ann", "ann"),
        ("ann ", '"ann "'),
        (" ann", '" ann"'),
        ("ann\u200b", '"ann\\u200b"'),
        ("a\tb", '"a\\tb"'),
        ('"ann "', '"\\"ann \\""'),
        ("zoë", "zoë"),
    ],
)
def test_lookalike_ids_are_shown_apart(value, expected):
    assert shown(value) == expected


def test_the_identity_rule():
    assert identity_key("ann", "x@y") == "u:ann"
    assert identity_key("ann ", None) == "u:ann "
    assert identity_key(None, "x@y") == identity_key("", "x@y") == identity_key(" \t", "x@y")
    assert identity_key(None, "x@y") != identity_key("x@y", None)
    assert identity_key(None, None) == identity_key("", " ") == identity_key(float("nan"), "")
    assert identity_label(None, None) == UNKNOWN
