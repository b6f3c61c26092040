"""`auditlens run` on the embedded database seals out of the box: a local signing key (owner
only), every organisation sealed and the demo verified; a configured key or database is the
operator's and is left alone."""

from __future__ import annotations

import stat

from cli import demo_sealing
from integrity import keys as keymod
from integrity.status import integrity_status
from sql.event_store import insert_events
from tests.factories import event_row


def test_the_demo_is_sealed_and_verified_with_a_local_key(db, tmp_path, monkeypatch):
    monkeypatch.delenv(keymod.SIGNING_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(keymod.SIGNING_KEY_ENV, raising=False)
    key_path = tmp_path / "seal.key"
    monkeypatch.setattr(demo_sealing, "local_key_path", lambda _db: key_path)
    with db.writer() as w:
        insert_events(w, [event_row(organization_id="org_demo") for _ in range(3)])
    said: list[str] = []
    assert demo_sealing.seal_out_of_the_box(db, "org_demo", said.append)
    status = integrity_status(db, "org_demo")
    assert status.unsealed_events == 0 and status.last_seal is not None
    assert status.last_verification is not None and status.last_verification["clean"]
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert any(str(key_path) in line for line in said)
    # The sealer of this process (and the dashboard's) uses the same key from now on.
    import os

    assert os.environ[keymod.SIGNING_KEY_FILE_ENV] == str(key_path)
    # A second start reuses the key: the chain stays verifiable with one public key.
    first_key = keymod.load_signing_key(key_path).key_id
    monkeypatch.delenv(keymod.SIGNING_KEY_FILE_ENV)
    assert demo_sealing.seal_out_of_the_box(db, "org_demo", said.append)
    assert keymod.load_signing_key(key_path).key_id == first_key


def test_a_configured_key_or_database_is_left_to_the_operator(db, tmp_path, monkeypatch):
    monkeypatch.setenv(keymod.SIGNING_KEY_FILE_ENV, str(tmp_path / "theirs.key"))
    assert not demo_sealing.seal_out_of_the_box(db, "org_demo", print)
    monkeypatch.delenv(keymod.SIGNING_KEY_FILE_ENV)
    monkeypatch.delenv(keymod.SIGNING_KEY_ENV, raising=False)
    # The test database is a configured one (no embedded server): no key is made for it.
    assert db.embedded is None
    assert not demo_sealing.seal_out_of_the_box(db, "org_demo", print)
    assert not list(tmp_path.iterdir())
