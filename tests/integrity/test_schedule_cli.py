"""`auditlens serve-ingest` and `auditlens run` seal on a schedule while they run, when a
signing key is configured, and stop the sealer cleanly when they end. The server and the
dashboard are replaced by stand-ins that look at the sealer while "serving"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from integrity import keys as keymod
from integrity.seal_schedule import SealScheduler
from sql.event_store import insert_events
from tests.factories import event_row


@pytest.fixture
def configured(db, tmp_path: Path, monkeypatch) -> keymod.SigningKey:
    key = keymod.generate()
    path = tmp_path / "seal.key"
    keymod.write_signing_key(key, path)
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    monkeypatch.setenv("AUDITLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AUDITLENS_SIGNING_KEY_FILE", str(path))
    monkeypatch.setenv("AUDITLENS_SEAL_INTERVAL_SECONDS", "7200")
    with db.writer() as w:
        insert_events(w, [event_row()])
    return key


@pytest.fixture
def started(monkeypatch) -> list[SealScheduler]:
    """Every scheduler started during the test."""
    schedulers: list[SealScheduler] = []
    original = SealScheduler.start

    def start(self: SealScheduler) -> SealScheduler:
        schedulers.append(self)
        return original(self)

    monkeypatch.setattr(SealScheduler, "start", start)
    return schedulers


def _seals(db, key_id: str) -> int:
    with db.admin() as s:
        return int(s.scalar("SELECT count(*) FROM audit_seals WHERE key_id = :k", {"k": key_id}))


def test_serve_ingest_seals_while_serving_and_stops_the_sealer(
    db, configured, started, monkeypatch
):
    import uvicorn

    seen: dict[str, object] = {}

    def serve(*args, **kwargs) -> None:
        scheduler = started[0]
        seen["first"] = scheduler.first_run_done.wait(120)
        seen["running"] = scheduler.running
        seen["interval"] = scheduler.interval

    monkeypatch.setattr(uvicorn, "run", serve)
    result = CliRunner().invoke(app, ["serve-ingest", "--port", "8699"])
    assert result.exit_code == 0, result.output
    assert seen == {"first": True, "running": True, "interval": 7200.0}
    assert len(started) == 1 and not started[0].running
    assert _seals(db, configured.key_id) >= 1


def test_serve_ingest_without_a_key_does_not_seal(db, configured, started, monkeypatch):
    import uvicorn

    monkeypatch.delenv("AUDITLENS_SIGNING_KEY_FILE")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    result = CliRunner().invoke(app, ["serve-ingest"])
    assert result.exit_code == 0, result.output
    assert started == []
    assert "sealing: off" in result.output


def test_run_seals_while_the_dashboard_runs(db, configured, started, monkeypatch):
    import simulator.demo
    from cli import run_command

    seen: dict[str, object] = {}

    class Dashboard:
        def __init__(self, command, env) -> None:
            seen["url"] = env["AUDITLENS_DATABASE_URL"]

        def wait(self, timeout=None) -> int:
            scheduler = started[0]
            seen["first"] = scheduler.first_run_done.wait(120)
            seen["running"] = scheduler.running
            return 0

    # `run` imports the simulator when it runs, so the stand-in goes where it looks.
    monkeypatch.setattr(simulator.demo, "seed_demo", lambda db: None)
    monkeypatch.setattr(run_command, "ensure_demo_admin", lambda db: None)
    monkeypatch.setattr(run_command.subprocess, "Popen", Dashboard)
    result = CliRunner().invoke(app, ["run", "--port", "8598"])
    assert result.exit_code == 0, result.output
    assert seen["first"] is True and seen["running"] is True
    assert len(started) == 1 and not started[0].running
    assert _seals(db, configured.key_id) >= 1
