"""`auditlens refresh` rolls up new events and says how many."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row


def test_refresh_command_rolls_up_then_finds_nothing_new(
    db: Database, fresh_database: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    with db.writer() as w:
        insert_events(w, [event_row() for _ in range(4)])
    runner = CliRunner()
    first = runner.invoke(app, ["refresh"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("4 event(s) rolled up")
    again = runner.invoke(app, ["refresh"])
    assert again.output.startswith("0 event(s) rolled up")
    rebuilt = runner.invoke(app, ["refresh", "--rebuild"])
    assert rebuilt.output.startswith("4 event(s) rolled up")
    with db.admin() as session:
        assert session.scalar("SELECT sum(events) FROM rollup_user_days") == 4
