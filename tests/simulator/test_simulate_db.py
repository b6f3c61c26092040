"""The simulator into the database, the demo seed of `auditlens run`, and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import orjson

from simulator import Simulation, SimulationConfig, write_database
from simulator.demo import seed_demo
from sql.gateway import Database
from tests.run_cli import run_cli

TINY = SimulationConfig("org_tiny", users=12, days=8, seed=3, start=date(2024, 11, 18))


def _count(db: Database, org: str) -> int:
    """The simulated events (not the audited description of its resources it also writes)."""
    with db.org_session(org) as session:
        return int(
            session.scalar(
                "SELECT count(*) FROM org_audit_events"
                " WHERE resource_type IS DISTINCT FROM 'resource_catalogue'"
            )
        )


def test_write_database_inserts_every_event_once(db: Database, tmp_path: Path) -> None:
    labels = tmp_path / "tiny.labels.json"
    outcome = write_database(Simulation(TINY), db, labels, batch=1_000)
    assert outcome.events > 1_000
    assert outcome.inserted == outcome.events == _count(db, "org_tiny")
    assert outcome.rejected == 0
    doc = orjson.loads(labels.read_bytes())
    assert doc["events"] == outcome.events
    # The same simulation again adds nothing: ids and times are identical.
    again = write_database(Simulation(TINY), db, None)
    assert again.inserted == 0 and _count(db, "org_tiny") == outcome.events
    with db.org_session("org_tiny") as session:
        ids = [s["event_ids"][0] for s in doc["scenarios"]]
        found = session.scalar(
            "SELECT count(*) FROM org_audit_events WHERE id = ANY(:ids)", {"ids": ids}
        )
        assert found == len(ids) > 0
        details = session.scalar(
            "SELECT details FROM org_audit_events WHERE event_action = 'search' LIMIT 1"
        )
        assert isinstance(details["results_count"], int)


def test_demo_seeds_only_an_empty_database(db: Database, tmp_path: Path) -> None:
    seeded = seed_demo(db, users=8, days=6, labels_dir=tmp_path)
    assert seeded is not None and seeded.events > 0
    assert seeded.labels_path == tmp_path / "org_demo.labels.json" and seeded.labels_path.exists()
    assert _count(db, "org_demo") == seeded.events
    with db.org_session("org_demo") as session:
        latest = session.scalar("SELECT max(event_time) FROM org_audit_events")
    assert latest < datetime.now(UTC)  # the demo ends yesterday: nothing in the future
    assert seed_demo(db, users=8, days=6, labels_dir=tmp_path) is None
    assert _count(db, "org_demo") == seeded.events


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "simulate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def _simulate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`auditlens simulate ARGS` in this process (`_cli` starts a new interpreter)."""
    return run_cli("simulate", *args, env=env or {})


def test_cli_writes_the_same_bytes_in_every_process(tmp_path: Path) -> None:
    args = (
        "--org",
        "org_cli",
        "--users",
        "15",
        "--days",
        "6",
        "--seed",
        "11",
        "--start",
        "2024-11-18",
        "--scenarios",
        "large_export=2,night_export",
    )
    first = _cli(*args, "--out", str(tmp_path / "a.jsonl"))
    assert first.returncode == 0, first.stderr
    assert "events for org_cli" in first.stdout
    # A new interpreter (new hash seed) must not change a byte.
    second = _cli(*args, "--out", str(tmp_path / "b.jsonl"), env={"PYTHONHASHSEED": "12345"})
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    labels = orjson.loads((tmp_path / "a.labels.json").read_bytes())
    assert sorted(s["scenario"] for s in labels["scenarios"]) == [
        "large_export",
        "large_export",
        "night_export",
    ]


def test_cli_refuses_bad_input_with_one_reason(tmp_path: Path) -> None:
    base = ("--org", "org_cli", "--users", "5", "--days", "3")
    cases = {
        ("--scenarios", "bogus=1", "--out", str(tmp_path / "x.jsonl")): "unknown scenario",
        ("--start", "yesterday", "--out", str(tmp_path / "x.jsonl")): "--start",
        ("--out", str(tmp_path / "x.jsonl"), "--db"): "exactly one of",
        ("--start", "2999-01-01", "--out", str(tmp_path / "x.jsonl")): "past today",
    }
    for extra, reason in cases.items():
        result = _simulate(*base, *extra)
        assert result.returncode != 0
        assert reason in " ".join(result.stderr.split()), (extra, result.stderr)
    bad_org = _simulate("--org", "org cli; drop", "--users", "5", "--days", "3", "--out", "x.jsonl")
    assert bad_org.returncode != 0 and "--org" in bad_org.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_writes_to_the_database(db: Database, tmp_path: Path) -> None:
    result = _simulate(
        "--org",
        "org_clidb",
        "--users",
        "6",
        "--days",
        "4",
        "--start",
        "2024-11-18",
        "--scenarios",
        "none",
        "--db",
        "--labels",
        str(tmp_path / "l.json"),
        env={"AUDITLENS_DATABASE_URL": db.url},
    )
    assert result.returncode == 0, result.stderr
    assert _count(db, "org_clidb") > 0
    assert orjson.loads((tmp_path / "l.json").read_bytes())["scenarios"] == []


def test_write_database_leaves_no_event_past_the_rollups(db: Database) -> None:
    """A seeded organisation (the demo of `auditlens run`) is rolled up when written: pages
    and detection read the rollups, not every event raw."""
    write_database(Simulation(TINY), db, None)
    with db.admin() as session:
        pending = session.scalar(
            "SELECT count(*) FROM audit_events"
            " WHERE ingest_xid >= (SELECT watermark FROM rollup_state WHERE name = 'events')"
        )
        rolled_up = session.scalar("SELECT events_total FROM rollup_state WHERE name = 'events'")
    assert pending == 0
    # Every simulated event counted (AuditLens's own events are kept out of the rollups).
    assert rolled_up == _count(db, "org_tiny") > 1_000
