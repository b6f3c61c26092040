"""`auditlens keys create/revoke/list`: tokens shown once, stored hashed, both audited."""

from __future__ import annotations

import subprocess

from ingest.keys import resolve_key
from tests.run_cli import run_cli


def cli(*args: str, db) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"AUDITLENS_DATABASE_URL": db.url})


def test_create_list_revoke(db):
    created = cli("keys", "create", "--org", "org_a", "--label", "billing api", db=db)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("alk_") and resolve_key(db, token) == "org_a"
    with db.admin() as s:
        stored = s.execute("SELECT key_id, secret_sha256 FROM ingest_keys").rows
    assert len(stored) == 1 and token.split("_", 2)[2].encode() not in bytes(stored[0][1])
    key_id = stored[0][0]
    listed = cli("keys", "list", "--org", "org_a", db=db)
    assert f"{key_id}  active  billing api" in listed.stdout
    revoked = cli("keys", "revoke", key_id, db=db)
    assert revoked.returncode == 0 and "org_a" in revoked.stdout
    assert resolve_key(db, token) is None
    again = cli("keys", "revoke", key_id, db=db)
    assert again.returncode == 2 and "already revoked" in again.stderr
    bad_org = cli("keys", "create", "--org", "org a; drop", db=db)
    assert bad_org.returncode != 0 and "organization id" in bad_org.stderr
    with db.org_session("org_a") as s:
        audited = s.execute(
            "SELECT event_action, resource_id FROM org_audit_events"
            " WHERE resource_type = 'ingest_key'"
        ).rows
    assert sorted(audited) == [("api_key_created", key_id), ("api_key_revoked", key_id)]


def test_forged_tokens_resolve_to_nothing(db):
    for token in [
        "",
        "alk_",
        "alk_short_x",
        "alk_AAAAAAAAAAAA_" + "x" * 43,
        "\x00" * 60,
        "alk_aaaaaaaaaaaa_\ud800" + "x" * 40,
    ]:
        assert resolve_key(db, token) is None
