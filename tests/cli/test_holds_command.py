"""`auditlens holds list|place|lift` and what `auditlens purge` says a hold kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from cli import app
from sql.event_store import insert_events
from sql.gateway import Database
from sql.holds import list_holds
from tests.factories import event_row
from tests.run_cli import run_cli

OLD = datetime(2015, 3, 10, tzinfo=UTC)


@pytest.fixture
def cli_db(db: Database, fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    return db


def test_place_purge_list_lift(cli_db: Database):
    with cli_db.writer() as w:
        insert_events(
            w,
            [
                event_row(id="held", event_type="login", user_id="u1", event_time=OLD),
                event_row(id="gone", event_type="login", user_id="u2", event_time=OLD),
            ],
        )
    runner = CliRunner()
    placed = runner.invoke(
        app,
        ["holds", "place", "--org", "org_a", "--query", "user:u1",
         "--reason", "\x1b[2Jwiped\u202e", "--reference", "CASE-9"],
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    assert placed.output.startswith("hold 1 placed on org_a: events where user (id or email)")
    assert "1 stored event(s) now held" in placed.output
    purged = runner.invoke(app, ["purge"])
    assert purged.exit_code == 0, purged.output
    assert "org_a\tlogin\t1 removed" in purged.output
    assert "org_a\tlogin\t1 kept: past retention, under legal hold 1" in purged.output
    listed = runner.invoke(app, ["holds", "list", "--org", "org_a"])
    assert listed.exit_code == 0, listed.output
    # The hostile reason is shown as text: no escape or direction character reaches the terminal.
    assert "reason: \\x1b[2Jwiped\\u202e" in listed.output
    assert "\x1b" not in listed.output and "\u202e" not in listed.output
    lifted = runner.invoke(
        app, ["holds", "lift", "--org", "org_a", "--hold", "1", "--reason", "closed"]
    )
    assert lifted.exit_code == 0, lifted.output
    assert lifted.output.startswith("hold 1 lifted on org_a")
    assert runner.invoke(app, ["holds", "list", "--org", "org_a", "--active"]).output == (
        "org_a: no active legal holds\n"
    )
    (hold,) = list_holds(cli_db, "org_a")
    assert hold.lifted_by is not None and hold.lifted_by.startswith("cli:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--query", "secret words", "--reason", "r", "--reference", "C"], "query: a hold names"),
        (["--query", "user:u1", "--reason", "", "--reference", "C"], "reason must not be empty"),
        (["--query", "user:u1", "--reason", "r", "--reference", " "], "reference must not be"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(cli_db, fresh_database, args, message):
    done = run_cli(
        "holds", "place", "--org", "org_a", *args, env={"AUDITLENS_DATABASE_URL": fresh_database}
    )
    assert done.returncode != 0
    assert done.stderr.startswith(f"auditlens: error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1


def test_lifting_an_unknown_hold_names_it(cli_db, fresh_database):
    done = run_cli(
        "holds", "lift", "--org", "org_a", "--hold", "7", "--reason", "r",
        env={"AUDITLENS_DATABASE_URL": fresh_database},
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr == "auditlens: error: hold: no hold 7 in organisation org_a\n"
