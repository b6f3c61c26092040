"""`auditlens keys create/revoke/list`: tokens shown once, stored hashed, both audited; ingest
and read keys kept apart."""

from __future__ import annotations

import subprocess

import pytest

from ingest.keys import INGEST, READ, create_key, resolve_key
from sql.errors import PermissionMissing
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
    assert f"{key_id}  ingest  active  billing api" in listed.stdout
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


def test_read_keys_are_created_listed_and_revoked_apart_from_ingest_keys(db):
    ingest = cli("keys", "create", "--org", "org_a", db=db).stdout.strip()
    created = cli("keys", "create", "--org", "org_a", "--scope", "read", "--label", "siem", db=db)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("alr_") and "read key" in created.stderr
    # Neither scope resolves in the other: a read key cannot write, an ingest key cannot read.
    assert resolve_key(db, token, READ) == "org_a" and resolve_key(db, token, INGEST) is None
    assert resolve_key(db, ingest, INGEST) == "org_a" and resolve_key(db, ingest, READ) is None
    # Even a read key's secret under the ingest prefix resolves to nothing.
    assert resolve_key(db, "alk_" + token[4:], INGEST) is None
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM read_keys") == 1
        assert s.scalar("SELECT count(*) FROM ingest_keys") == 1
    read_id = token.split("_")[1]
    listed = cli("keys", "list", "--org", "org_a", "--scope", "read", db=db)
    assert listed.stdout.splitlines() == [f"{read_id}  read  active  siem"]
    assert len(cli("keys", "list", "--org", "org_a", db=db).stdout.splitlines()) == 2
    wrong = cli("keys", "revoke", token, "--scope", "ingest", db=db)
    assert wrong.returncode == 2 and "the token's scope is read, not ingest" in wrong.stderr
    revoked = cli("keys", "revoke", read_id, db=db)  # found in its scope without --scope
    assert revoked.returncode == 0, revoked.stderr
    assert resolve_key(db, token, READ) is None and resolve_key(db, ingest, INGEST) == "org_a"
    bad = cli("keys", "create", "--org", "org_a", "--scope", "admin", db=db)
    assert bad.returncode == 2 and "--scope must be one of ingest, read" in bad.stderr
    assert (
        cli("keys", "revoke", "nosuchkey123", db=db)
        .stderr.strip()
        .endswith("key 'nosuchkey123' does not exist")
    )
    with db.org_session("org_a") as s:
        audited = s.execute(
            "SELECT event_action, details->>'purpose' FROM org_audit_events"
            " WHERE resource_type = 'read_key' ORDER BY ingest_seq"
        ).rows
    assert audited == [("api_key_created", "read"), ("api_key_revoked", "read")]


def test_roles_reach_read_keys_only_through_the_lookup_and_their_organisation_view(db):
    create_key(db, "org_a", actor="t", scope=READ)
    create_key(db, "org_b", actor="t", scope=READ)
    with pytest.raises(PermissionMissing), db.writer() as s:
        s.execute("SELECT secret_sha256 FROM read_keys")
    with pytest.raises(PermissionMissing), db.org_session("org_a") as s:
        s.execute("SELECT secret_sha256 FROM read_keys")
    with db.org_session("org_a") as s:
        seen = s.execute("SELECT * FROM org_read_keys").dicts()
    assert [r["organization_id"] for r in seen] == ["org_a"] and "secret_sha256" not in seen[0]


def test_a_label_is_one_line_of_text(db):
    forged = "x\nabcdefghijkl  read  active  ops"  # would list as a second, made-up key
    for label, error in ((forged, "control"), ("\x1b[31mred", "control"), ("x" * 201, "200")):
        refused = cli("keys", "create", "--org", "org_a", "--label", label, db=db)
        assert refused.returncode == 2 and "--label" in refused.stderr and error in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    with db.admin() as s:  # a label stored before it was checked is still listed on one line
        s.execute(
            "INSERT INTO read_keys (key_id, organization_id, secret_sha256, label, created_by)"
            " VALUES ('aaaaaaaaaaaa', 'org_a', :digest, :label, 't')",
            {"digest": bytes(32), "label": forged},
        )
    listed = cli("keys", "list", "--org", "org_a", db=db).stdout.splitlines()
    assert listed == ["aaaaaaaaaaaa  read  active  x\\nabcdefghijkl  read  active  ops"]
