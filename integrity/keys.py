"""Ed25519 signing keys for seals. The private key lives in a file or an environment
variable, never in the database: whoever can write the database still cannot sign a seal.

- `AUDITLENS_SIGNING_KEY_FILE`: path of a PEM (PKCS#8) private key;
- `AUDITLENS_SIGNING_KEY`: the PEM text itself (for containers that pass secrets as env).
The public key is exported as PEM (SubjectPublicKeyInfo); its key id is the first 16 hex
digits of SHA-256 over the 32 raw public key bytes, and every seal names the key id it was
signed with.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sql.errors import ConfigurationError

SIGNING_KEY_ENV = "AUDITLENS_SIGNING_KEY"
SIGNING_KEY_FILE_ENV = "AUDITLENS_SIGNING_KEY_FILE"


class SigningKeyError(ConfigurationError):
    """No usable signing or public key."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class PublicKeys:
    """The public keys a verifier trusts, by key id (several after a key rotation)."""

    by_id: dict[str, Ed25519PublicKey]

    def verify(self, kid: str, signature: bytes, message: bytes) -> str | None:
        """None when `signature` is valid under key `kid`, else the reason it is not."""
        public = self.by_id.get(kid)
        if public is None:
            return f"signed with key {kid}, which is not among the trusted public keys"
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return f"signature does not verify under key {kid}"
        return None


def generate() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


def _load_private(pem: bytes, where: str) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{where} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{where} holds a {type(key).__name__}, not an Ed25519 key")
    return SigningKey(key)


def load_signing_key(path: Path | None = None) -> SigningKey:
    """The signing key from `path`, else AUDITLENS_SIGNING_KEY_FILE, else AUDITLENS_SIGNING_KEY."""
    if path is None and os.environ.get(SIGNING_KEY_FILE_ENV):
        path = Path(os.environ[SIGNING_KEY_FILE_ENV])
    if path is not None:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror}") from None
        return _load_private(pem, str(path))
    inline = os.environ.get(SIGNING_KEY_ENV)
    if inline:
        return _load_private(inline.encode(), SIGNING_KEY_ENV)
    raise SigningKeyError(
        f"no signing key: set {SIGNING_KEY_FILE_ENV} (or {SIGNING_KEY_ENV}); "
        "create one with `auditlens signing-key create --out FILE`"
    )


def write_signing_key(key: SigningKey, path: Path) -> None:
    """Write the private key readable by its owner only; never overwrite an existing key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path} exists; refusing to overwrite a signing key") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_pem())


def load_public_keys(paths: list[Path]) -> PublicKeys:
    """Trusted public keys from PEM files (a file may also hold a private key: its public half)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read public key {path}: {exc.strerror}") from None
        public: object
        try:
            public = serialization.load_pem_public_key(pem)
        except ValueError:
            public = _load_private(pem, str(path)).public
        if not isinstance(public, Ed25519PublicKey):
            raise SigningKeyError(f"{path} holds a {type(public).__name__}, not an Ed25519 key")
        keys[key_id(public)] = public
    return PublicKeys(keys)
