"""The resource catalogue's storage: entries checked field by field, stored per organisation,
read only by the organisation's reader, every change audited, nothing audited twice."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from sql.catalogue import CatalogueError, checked_entry, entries, set_entries
from sql.errors import AuditLensError
from sql.gateway import Database
from sql.vocabulary import DESCRIBE_RESOURCE, OWN_ACTIONS


def _payment(**changes: object) -> object:
    fields: dict[str, object] = {
        "display_name": "Payment logs",
        "resource_type": "source",
        "tags": "pci, financial",
        "owner_team": "Payments",
    }
    fields.update(changes)
    return checked_entry("payment-logs", "restricted", **fields)  # type: ignore[arg-type]


def _describe_events(db: Database, org: str) -> list[dict]:
    with db.org_session(org) as s:
        return [
            row[0]
            for row in s.execute(
                "SELECT details FROM org_audit_events WHERE event_action = :a ORDER BY ingest_seq",
                {"a": DESCRIBE_RESOURCE.name},
            ).rows
        ]


def test_set_read_change_and_audit_each_change(db):
    outcome = set_entries(db, "org_a", [_payment()], actor="admin@a.com", via="cli")
    assert outcome.added == ("payment-logs",) and not outcome.changed
    stored = entries(db, "org_a")["payment-logs"]
    assert stored.display_name == "Payment logs" and stored.tags == ("pci", "financial")
    assert stored.confirmed_by == "admin@a.com" and stored.confirmed_at is not None
    # The same again changes nothing and records nothing.
    again = set_entries(db, "org_a", [_payment()], actor="other@a.com", via="cli")
    assert again.unchanged == ("payment-logs",)
    assert entries(db, "org_a")["payment-logs"].confirmed_by == "admin@a.com"
    changed = set_entries(
        db, "org_a", [_payment(owner_team="Finance")], actor="b@a.com", via="dashboard"
    )
    assert changed.changed == ("payment-logs",)
    events = _describe_events(db, "org_a")
    assert len(events) == 2
    assert events[0]["resource_id"] == "payment-logs" and events[0]["old_values"] is None
    assert events[1]["changes"] == {"owner_team": {"old": "Payments", "new": "Finance"}}
    assert events[1]["via"] == "dashboard"
    with db.org_session("org_a") as s:
        who = s.execute(
            "SELECT user_id, event_type, resource_type, resource_id FROM org_audit_events"
            " WHERE event_action = :a ORDER BY ingest_seq DESC LIMIT 1",
            {"a": DESCRIBE_RESOURCE.name},
        ).rows[0]
    # Describing payment-logs is not an access to it: the event names the catalogue.
    assert who == ("b@a.com", "config_change", "resource_catalogue", "resource_catalogue")


def test_a_second_organisation_sees_only_its_own(db):
    set_entries(db, "org_a", [_payment()], actor="a", via="cli")
    set_entries(db, "org_b", [checked_entry("build-logs", "internal")], actor="b", via="cli")
    assert set(entries(db, "org_a")) == {"payment-logs"}
    assert set(entries(db, "org_b")) == {"build-logs"}
    assert entries(db, "org_c") == {}
    # The reader cannot reach the table itself, only its organisation's view.
    with pytest.raises(AuditLensError), db.org_session("org_b") as s:
        s.execute("SELECT * FROM resource_catalogue")
    with db.org_session("org_b") as s:
        assert s.scalar("SELECT count(*) FROM org_resource_catalogue") == 1
    assert _describe_events(db, "org_b")[0]["resource_id"] == "build-logs"
    assert [e["resource_id"] for e in _describe_events(db, "org_a")] == ["payment-logs"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resource_id": " "}, "resource_id: required"),
        ({"sensitivity": "secret"}, "sensitivity: must be one of internal, confidential"),
        ({"tags": "pci, Bad Tag!"}, "tags: 'Tag!' is not a lower-case word"),
        ({"tags": ["ok", 3]}, "tags: 3 is not"),
        ({"display_name": "a\nb"}, "display_name: must not contain control characters"),
        ({"owner_team": "x" * 201}, "owner_team: at most 200 characters"),
    ],
)
def test_bad_fields_are_named(kwargs, message):
    values: dict[str, object] = {"resource_id": "payment-logs", "sensitivity": "restricted"}
    values.update(kwargs)
    rid, level = values.pop("resource_id"), values.pop("sensitivity")
    with pytest.raises(CatalogueError, match=message.replace("(", r"\(")):
        checked_entry(rid, level, **values)  # type: ignore[arg-type]


def test_the_database_refuses_what_the_checks_refuse(db):
    # The table's own checks hold even for a writer that skips `checked_entry`.
    with pytest.raises(IntegrityError, match="tags_check"), db.admin() as s:
        s.execute(
            "INSERT INTO resource_catalogue (organization_id, resource_id, sensitivity, tags,"
            " confirmed_by) VALUES ('org_a', 'x', 'restricted', ARRAY['ok', 'not ok'], 't')"
        )
    with pytest.raises(IntegrityError, match="sensitivity_check"), db.admin() as s:
        s.execute(
            "INSERT INTO resource_catalogue (organization_id, resource_id, sensitivity,"
            " confirmed_by) VALUES ('org_a', 'x', 'top-secret', 't')"
        )


def test_catalogue_actions_are_registered():
    assert "describe_resource" in OWN_ACTIONS and "import_resource_catalogue" in OWN_ACTIONS
