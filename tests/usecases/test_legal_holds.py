"""What the integrity page lists about legal holds: the organisation's own, as text."""

from __future__ import annotations

from datetime import UTC, datetime

from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row
from usecases.legal_holds import holds_table, lift, place, shown


def test_holds_table_lists_this_organisations_holds_with_what_they_keep(db: Database):
    when = datetime(2015, 3, 10, tzinfo=UTC)
    with db.writer() as w:
        insert_events(w, [event_row(user_id="u1", event_time=when) for _ in range(3)])
    place(db, "org_a", "user:u1", reason="<b>case</b>", reference="C-1", actor="t:a")
    place(db, "org_a", "user:u2", reason="other", reference="C-2", actor="t:a")
    lift(db, "org_a", 2, reason="done", actor="t:b")
    place(db, "org_b", "user:u1", reason="b", reference="B-1", actor="t:b")
    rows = holds_table(db, "org_a")
    assert [(r["hold"], r["status"], r["events_held"]) for r in rows] == [
        (2, "lifted", 0),
        (1, "active", 3),
    ]
    assert rows[1]["reason"] == "<b>case</b>" and rows[0]["lifted_by"] == "t:b"
    assert [r["hold"] for r in holds_table(db, "org_a", include_lifted=False)] == [1]


def test_shown_writes_what_a_terminal_would_act_on_as_escapes():
    assert shown("a\x1b[2Jb\u202ec\nd é") == "a\\x1b[2Jb\\u202ec\\nd é"
