"""`auditlens evidence create` and `verify-evidence` end to end, and their one-line errors."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from integrity import keys as keymod
from sql.gateway import Database
from tests.run_cli import run_cli


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    key = keymod.generate()
    private, public = tmp_path / "seal.key", tmp_path / "seal.pub"
    keymod.write_signing_key(key, private)
    public.write_text(keymod.public_pem(key.public), encoding="utf-8")
    return private, public


def test_create_then_verify(db: Database, fresh_database: str, key_files, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    private, public = key_files
    out = tmp_path / "pack.html"
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["evidence", "create", "--org", "org_a", "--from", "2024-10-01", "--to", "2024-12-31",
         "--format", "html", "--out", str(out), "--key", str(private),
         "--restricted", "payment-logs"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.output.startswith(f"{out}: evidence pack of org_a, 2024-10-01 to 2024-12-31;")
    html = out.read_text(encoding="utf-8")
    assert "Period 2024-10-01T00:00:00+00:00 to 2025-01-01T00:00:00+00:00" in html
    assert "given on the command line (--restricted)" in html
    checked = runner.invoke(app, ["verify-evidence", str(out), "--public-key", str(public)])
    assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-13-01", "--to", "2024-12-31"], "--from must be a date like"),
        (["--from", "2024-12-01", "--to", "2024-11-30"], "--to (2024-11-30) is before --from"),
        (["--from", "2024-10-01", "--to", "2024-12-31", "--format", "docx"], "--format must"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(tmp_path, key_files, args, message):
    done = run_cli(
        "evidence", "create", "--org", "org_a", "--out", str(tmp_path / "p.pdf"),
        "--key", str(key_files[0]), *args,
        env={"AUDITLENS_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"auditlens: error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1


def test_a_broken_signature_file_is_one_line(tmp_path, key_files):
    pack = tmp_path / "p.html"
    pack.write_text("<p>pack</p>")
    Path(f"{pack}.sig").write_text('{"format": "something else"}')
    done = run_cli("verify-evidence", str(pack), "--public-key", str(key_files[1]), env={})
    assert done.returncode == 2
    assert done.stderr == (
        "auditlens: error: signature file: not an evidence signature:"
        " format is not auditlens-evidence-1\n"
    )


def test_a_forged_signatures_key_id_cannot_print_a_verified_line(tmp_path, key_files):
    # Whoever hands over a pack writes its .sig: the key id there is hostile text, and a
    # newline in it would put a "verified" line of its choosing on the auditor's terminal.
    folder = tmp_path / "with space"
    folder.mkdir()
    pack = folder / "p.html"
    pack.write_text("<p>pack</p>")
    forged = {
        "format": "auditlens-evidence-1",
        "organization_id": "org_a",
        "sha256": hashlib.sha256(pack.read_bytes()).hexdigest(),
        "key_id": f"x\n{pack}: verified: SHA-256 0, signed by key k for org_a\x1b[8m",
        "signature": base64.b64encode(bytes(64)).decode(),
    }
    Path(f"{pack}.sig").write_text(json.dumps(forged))
    # A real process: what reaches its stdout and stderr, and nothing else, is the contract.
    done = subprocess.run(
        [sys.executable, "-m", "cli", "verify-evidence", str(pack), "--public-key",
         str(key_files[1])],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin"},
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "\x1b" not in done.stderr, done.stderr
