"""Per-organisation ingest keys for the HTTP receiver: create, revoke (both audited), resolve.

A token is `alk_<key id>_<secret>`: the 12-character key id finds the row, the secret (256
random bits) is checked against its stored SHA-256. Tokens are shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass

from sql.errors import AuditLensError
from sql.event_store import record_event
from sql.gateway import Database, check_org_id
from sql.vocabulary import API_KEY_CREATED, API_KEY_REVOKED

TOKEN_PREFIX = "alk_"  # noqa: S105 - a prefix, not a secret
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY_ID_LENGTH = 12
_SECRET_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")


class IngestKeyError(AuditLensError):
    """An ingest key cannot be created or revoked (unknown key, already revoked, ...)."""


@dataclass(frozen=True)
class NewKey:
    key_id: str
    organization_id: str
    token: str  # shown once; only its hash is stored


def _split(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    key_id = token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _KEY_ID_LENGTH]
    rest = token[len(TOKEN_PREFIX) + _KEY_ID_LENGTH :]
    if len(key_id) != _KEY_ID_LENGTH or not rest.startswith("_") or len(rest) < 20:
        return None
    if any(ch not in _KEY_ID_ALPHABET for ch in key_id):
        return None
    secret = rest[1:]
    if not secret.isascii() or any(ch not in _SECRET_ALPHABET for ch in secret):
        return None
    return key_id, secret


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def create_key(db: Database, org: str, *, actor: str, label: str | None = None) -> NewKey:
    """A new ingest key for `org`; the creation is recorded as an audit event of that org."""
    check_org_id(org)
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LENGTH))
    secret = secrets.token_urlsafe(32)
    with db.admin() as session:
        session.execute(
            "INSERT INTO ingest_keys (key_id, organization_id, secret_sha256, label, created_by)"
            " VALUES (:key_id, :org, :digest, :label, :actor)",
            {
                "key_id": key_id,
                "org": org,
                "digest": _digest(secret),
                "label": label,
                "actor": actor,
            },
        )
        record_event(
            session,
            organization_id=org,
            action=API_KEY_CREATED,
            user_id=actor,
            resource_type="ingest_key",
            resource_id=key_id,
            details={"label": label, "purpose": "ingest"},
        )
    return NewKey(key_id, org, f"{TOKEN_PREFIX}{key_id}_{secret}")


def revoke_key(db: Database, key: str, *, actor: str) -> str:
    """Revoke a key by id (or by its whole token); returns its organisation. Audited."""
    parts = _split(key)
    key_id = parts[0] if parts else key
    with db.admin() as session:
        row = session.execute(
            "UPDATE ingest_keys SET revoked_at = now(), revoked_by = :actor"
            " WHERE key_id = :key_id AND revoked_at IS NULL RETURNING organization_id",
            {"key_id": key_id, "actor": actor},
        ).rows
        if not row:
            known = session.scalar("SELECT 1 FROM ingest_keys WHERE key_id = :k", {"k": key_id})
            state = "is already revoked" if known else "does not exist"
            raise IngestKeyError(f"ingest key {key_id[:40]!r} {state}")
        org = str(row[0][0])
        record_event(
            session,
            organization_id=org,
            action=API_KEY_REVOKED,
            user_id=actor,
            resource_type="ingest_key",
            resource_id=key_id,
            details={"purpose": "ingest"},
        )
    return org


def resolve_key(db: Database, token: str) -> str | None:
    """The organisation a bearer token serves, or None (unknown, malformed or revoked)."""
    parts = _split(token)
    if parts is None:
        return None
    key_id, secret = parts
    with db.writer() as session:
        org = session.scalar(
            "SELECT auditlens_ingest_key_org(:key_id, :digest)",
            {"key_id": key_id, "digest": _digest(secret)},
        )
    return str(org) if org is not None else None


def list_keys(db: Database, org: str) -> list[dict[str, object]]:
    """The organisation's keys (never the secrets), newest first."""
    with db.org_session(org) as session:
        return session.execute(
            "SELECT key_id, label, created_at, created_by, revoked_at, revoked_by"
            " FROM org_ingest_keys ORDER BY created_at DESC"
        ).dicts()
