"""Signing keys come from a file or the environment and never from the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrity import keys as keymod


def test_created_key_round_trips_through_a_private_file(tmp_path: Path):
    key = keymod.generate()
    path = tmp_path / "seal.key"
    keymod.write_signing_key(key, path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = keymod.load_signing_key(path)
    assert loaded.key_id == key.key_id
    trusted = keymod.PublicKeys({key.key_id: key.public})
    assert trusted.verify(key.key_id, loaded.sign(b"m"), b"m") is None
    assert "does not verify" in (trusted.verify(key.key_id, loaded.sign(b"m"), b"n") or "")


def test_existing_key_file_is_never_overwritten(tmp_path: Path):
    path = tmp_path / "seal.key"
    path.write_text("keep me")
    with pytest.raises(keymod.SigningKeyError, match="refusing to overwrite"):
        keymod.write_signing_key(keymod.generate(), path)
    assert path.read_text() == "keep me"


def test_key_from_environment(monkeypatch):
    key = keymod.generate()
    monkeypatch.delenv(keymod.SIGNING_KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(keymod.SIGNING_KEY_ENV, key.private_pem().decode())
    assert keymod.load_signing_key().key_id == key.key_id


def test_missing_key_says_how_to_make_one(monkeypatch):
    monkeypatch.delenv(keymod.SIGNING_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(keymod.SIGNING_KEY_ENV, raising=False)
    with pytest.raises(keymod.SigningKeyError, match="signing-key create"):
        keymod.load_signing_key()


def test_garbage_key_file_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "bad.pem"
    path.write_text("not a key")
    with pytest.raises(keymod.SigningKeyError, match=r"bad\.pem"):
        keymod.load_signing_key(path)
    with pytest.raises(keymod.SigningKeyError, match=r"bad\.pem"):
        keymod.load_public_keys([path])


def test_public_key_file_loads_for_verification(tmp_path: Path):
    key = keymod.generate()
    pub = tmp_path / "seal.pub"
    pub.write_text(keymod.public_pem(key.public))
    trusted = keymod.load_public_keys([pub])
    assert list(trusted.by_id) == [key.key_id]
