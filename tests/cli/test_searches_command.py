"""`auditlens searches ...` and `auditlens export events --saved NAME`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row
from tests.run_cli import run_cli

WHEN = datetime(2025, 3, 3, 9, tzinfo=UTC)


@pytest.fixture
def env(db: Database, fresh_database: str) -> dict[str, str]:
    with db.writer() as w:
        insert_events(
            w,
            [
                event_row(
                    user_id=f"u{i % 3}",
                    event_action=("export" if i % 2 else "search"),
                    resource_id=f"src_{i % 4}",
                    details={"query": f"q {i}", "n": i},
                    event_time=WHEN + timedelta(minutes=i),
                )
                for i in range(30)
            ]
            + [event_row(organization_id="org_b", event_action="export", event_time=WHEN)],
        )
    return {"AUDITLENS_DATABASE_URL": fresh_database}


def test_a_search_saved_on_the_command_line_exports_what_the_typed_query_exports(
    env: dict[str, str], db: Database, tmp_path: Path
):
    query = 'action:export -user:u1 "q 1"'
    saved = run_cli(
        "searches", "save", "--org", "org_a", "--name", "Exports", "--query", query,
        "--description", "exports but u1's", "--shared", "--as", "ann@x.com", env=env,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout == "search 1 saved on org_a: Exports (shared)\n"
    shown = run_cli("searches", "show", "--org", "org_a", "exports", env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"query: {query}\n" in shown.stdout and "owner: ann@x.com\n" in shown.stdout
    by_hand, by_name = tmp_path / "typed.csv", tmp_path / "saved.csv"
    typed = run_cli(
        "export", "events", "--org", "org_a", "--query", query, "--out", str(by_hand), env=env
    )
    named = run_cli(
        "export", "events", "--org", "org_a", "--saved", "EXPORTS", "--out", str(by_name), env=env
    )
    assert typed.returncode == 0 and named.returncode == 0, (typed.stderr, named.stderr)
    assert by_name.read_bytes() == by_hand.read_bytes()
    # The header and exports 11, 15 and 17 (1, 13 and 19 are u1's; 3, 5, ... lack "q 1").
    assert by_hand.read_bytes().count(b"\r\n") == 1 + 3
    # Both exports are on record with the same filter, as an export always is.
    with db.org_session("org_a") as session:
        filters = session.execute(
            "SELECT filter, filter_text FROM org_audit_exports ORDER BY export_id"
        ).rows
    assert len(filters) == 2 and filters[0] == filters[1]


def test_list_rename_delete_and_one_line_errors(env: dict[str, str]):
    for name, extra in (("mine", ()), ("ours", ("--shared",))):
        done = run_cli(
            "searches", "save", "--org", "org_a", "--name", name, "--query", "user:u0",
            *extra, "--as", "ann@x.com", env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    listed = run_cli("searches", "list", "--org", "org_a", "--as", "bob@x.com", env=env)
    assert listed.stdout == "2\tours\tshared\tann@x.com\tuser:u0\n"
    refused = run_cli("searches", "show", "--org", "org_a", "mine", "--as", "bob@x.com", env=env)
    assert refused.returncode != 0
    unknown = "auditlens: error: search: no saved search 'mine' in organisation org_a\n"
    assert refused.stderr == unknown
    export = run_cli(
        "export", "events", "--org", "org_a", "--saved", "mine", "--as", "bob@x.com",
        "--out", "/nonexistent/x.csv", env=env,
    )  # fmt: skip
    assert export.returncode != 0 and "no saved search 'mine' in organisation" in export.stderr
    elsewhere = run_cli(
        "export", "events", "--org", "org_b", "--saved", "ours", "--as", "ann@x.com",
        "--out", "/nonexistent/x.csv", env=env,
    )  # fmt: skip
    assert "no saved search 'ours' in organisation org_b" in elsewhere.stderr
    renamed = run_cli(
        "searches", "rename", "--org", "org_a", "ours", "Theirs", "--as", "ann@x.com", env=env
    )
    assert renamed.stdout == "search 2 renamed to Theirs\n"
    deleted = run_cli(
        "searches", "delete", "--org", "org_a", "theirs", "--as", "ann@x.com", env=env
    )
    assert deleted.stdout == "search 2 deleted: Theirs\n"
    bad = run_cli(
        "searches", "save", "--org", "org_a", "--name", "x", "--query", "created:2025-02-30",
        "--as", "ann@x.com", env=env,
    )  # fmt: skip
    assert bad.returncode != 0
    assert bad.stderr.startswith("auditlens: error: query: query error at column 9")
    assert bad.stderr.count("\n") == 1


def test_hostile_names_are_printed_as_text(env: dict[str, str]):
    name = "x\u202e'; DROP TABLE saved_searches; --"
    refused = run_cli("searches", "save", "--org", "org_a", "--name", name, "--query", "", env=env)
    assert refused.returncode != 0 and "\u202e" not in refused.stderr
    assert "name contains a control or invisible character (U+202E)" in refused.stderr
    name = "'; DROP TABLE saved_searches; --"
    query = 'user:"\x1b[2J"'
    saved = run_cli("searches", "save", "--org", "org_a", "--name", name, "--query", "u", env=env)
    assert saved.returncode == 0, saved.stderr
    escaped = run_cli(
        "searches", "save", "--org", "org_a", "--name", "esc", "--query", query, env=env
    )
    assert escaped.returncode != 0 and "control character U+001B is not allowed" in escaped.stderr
    assert "\x1b" not in escaped.stderr
    listed = run_cli("searches", "list", "--org", "org_a", env=env)
    assert f"\t{name}\tprivate\t" in listed.stdout
