"""The integrity commands as an operator and an auditor run them: `cli.main`, exit codes."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from sql.event_store import insert_events
from tests.factories import event_row
from tests.run_cli import run_cli


def cli(*args: str, db, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"AUDITLENS_DATABASE_URL": db.url, **env})


def test_key_seal_verify_export_as_an_auditor_would(db, tmp_path: Path):
    key, pub = tmp_path / "seal.key", tmp_path / "seal.pub"
    made = cli("signing-key", "create", "--out", str(key), "--public-out", str(pub), db=db)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert pub.read_text() == made.stdout
    assert cli("signing-key", "create", "--out", str(key), db=db).returncode == 2

    recent = datetime.now(UTC) - timedelta(hours=1)
    rows = [event_row(event_time=recent) for _ in range(3)]
    with db.writer() as w:
        insert_events(w, rows)
    seals = tmp_path / "seals"
    sealed = cli("seal", "--seal-dir", str(seals), db=db, AUDITLENS_SIGNING_KEY_FILE=str(key))
    assert sealed.returncode == 0, sealed.stderr
    assert "org_a\tseal 1\t3 event(s)" in sealed.stdout
    assert (seals / "org_a" / "000000000001.json").is_file()

    clean = cli("verify", "--public-key", str(pub), "--seal-dir", str(seals), db=db)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "org_a: clean" in clean.stdout

    out = tmp_path / "export.ndjson"
    exported = cli("export-proof", "--org", "org_a", "--format", "ndjson", "--out", str(out), db=db)
    assert exported.returncode == 0, exported.stderr
    assert cli("verify-export", str(out), "--public-key", str(pub), db=db).returncode == 0

    out.write_text(out.read_text().replace('"search"', '"view_logs"', 1))
    edited = cli("verify-export", str(out), "--public-key", str(pub), db=db)
    assert edited.returncode == 1
    assert rows[0][1] in edited.stdout and "edited after sealing" in edited.stdout

    with db.engine.connect() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"DELETE FROM audit_events WHERE id = '{rows[1][1]}'"))
        conn.commit()
    broken = cli("verify", "--public-key", str(pub), db=db)
    assert broken.returncode == 1
    assert "  seal 1: 1 event deleted\n" in broken.stdout
    assert f"seal 1: event {rows[1][1]} event deleted" in broken.stdout
    assert "verification found 1 problem(s)" in broken.stderr


def test_verify_without_any_key_is_a_one_line_error(db):
    result = cli("verify", db=db, AUDITLENS_SIGNING_KEY_FILE="", AUDITLENS_SIGNING_KEY="")
    assert result.returncode == 2
    assert "no signing key" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_time_is_refused_naming_the_option(db, tmp_path):
    pub = tmp_path / "p.pem"
    result = cli("verify", "--from", "yesterday", "--public-key", str(pub), db=db)
    assert result.returncode == 2
    assert "--from" in result.stderr
