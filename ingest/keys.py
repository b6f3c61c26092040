"""Per-organisation API keys: ingest keys (write events) and read keys (the read API).

A token is `<prefix><key id>_<secret>`: `alk_` for an ingest key, `alr_` for a read key. The
12-character key id finds the row, the secret (256 random bits) is checked against its stored
SHA-256. Tokens are shown once, at creation; creating and revoking are audited. The two
scopes live in separate tables, so a key of one scope never resolves in the other.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sql.errors import AuditLensError
from sql.event_store import record_event
from sql.gateway import Database, check_org_id
from sql.vocabulary import API_KEY_CREATED, API_KEY_REVOKED

_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY_ID_LENGTH = 12
_SECRET_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
MAX_LABEL = 200


class ApiKeyError(AuditLensError):
    """A key cannot be created or revoked (unknown key, already revoked, unknown scope...)."""


@dataclass(frozen=True)
class KeyScope:
    """What a key may do, and where keys of that scope are kept (fixed names, never input)."""

    name: str
    prefix: str
    table: str
    lookup: str  # the SECURITY DEFINER function: (key id, secret digest) -> organisation
    view: str  # the readers' view of one organisation's keys, without hashes
    resource_type: str  # of the audit events about these keys


INGEST = KeyScope(
    "ingest", "alk_", "ingest_keys", "auditlens_ingest_key_org", "org_ingest_keys", "ingest_key"
)
READ = KeyScope("read", "alr_", "read_keys", "auditlens_read_key_org", "org_read_keys", "read_key")
SCOPES: dict[str, KeyScope] = {s.name: s for s in (INGEST, READ)}
TOKEN_PREFIX = INGEST.prefix  # kept for producers' docs and tools that check a token's shape


def scope_named(name: str) -> KeyScope:
    """The scope called `name`; anything else is a one-line error listing the scopes."""
    scope = SCOPES.get(name) if isinstance(name, str) else None
    if scope is None:
        raise ApiKeyError(f"--scope must be one of {', '.join(SCOPES)}, got: {name!r}")
    return scope


@dataclass(frozen=True)
class NewKey:
    key_id: str
    organization_id: str
    token: str  # shown once; only its hash is stored
    scope: str = INGEST.name


def token_scope(token: str) -> KeyScope | None:
    """The scope a token's prefix names (its shape only: nothing says it is valid)."""
    if not isinstance(token, str):
        return None
    return next((s for s in SCOPES.values() if token.startswith(s.prefix)), None)


def _split(token: str, scope: KeyScope) -> tuple[str, str] | None:
    if not isinstance(token, str) or not token.startswith(scope.prefix):
        return None
    start = len(scope.prefix)
    key_id = token[start : start + _KEY_ID_LENGTH]
    rest = token[start + _KEY_ID_LENGTH :]
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


def check_label(label: str | None) -> str | None:
    """A key's label: one line of text (it is listed one key a line), at most MAX_LABEL."""
    if label is None:
        return None
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        raise ApiKeyError(f"--label must be text of at most {MAX_LABEL} characters")
    bad = next((c for c in label if not c.isprintable()), None)
    if bad is not None:
        raise ApiKeyError(f"--label contains a control or invisible character (U+{ord(bad):04X})")
    return label


def create_key(
    db: Database, org: str, *, actor: str, label: str | None = None, scope: KeyScope = INGEST
) -> NewKey:
    """A new key of `scope` for `org`; the creation is recorded as an audit event of that org."""
    check_org_id(org)
    label = check_label(label)
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LENGTH))
    secret = secrets.token_urlsafe(32)
    with db.admin() as session:
        session.execute(
            f"INSERT INTO {scope.table} (key_id, organization_id, secret_sha256, label,"  # noqa: S608
            " created_by) VALUES (:key_id, :org, :digest, :label, :actor)",
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
            resource_type=scope.resource_type,
            resource_id=key_id,
            details={"label": label, "purpose": scope.name},
        )
    return NewKey(key_id, org, f"{scope.prefix}{key_id}_{secret}", scope.name)


def revoke_key(db: Database, key: str, *, actor: str, scope: KeyScope | None = None) -> str:
    """Revoke a key by id (or by its whole token); returns its organisation. Audited.

    A whole token names its scope; a bare key id is looked up in `scope`, or in every scope
    when none is given (refused if, by chance, both hold that id)."""
    named = token_scope(key)
    parts = _split(key, named) if named else None
    if parts is not None and named is not None:
        if scope is not None and scope != named:
            raise ApiKeyError(f"the token's scope is {named.name}, not {scope.name}")
        scope = named
    key_id = parts[0] if parts else key
    with db.admin() as session:
        if scope is None:
            found = [
                s
                for s in SCOPES.values()
                if session.scalar(
                    f"SELECT 1 FROM {s.table} WHERE key_id = :k",  # noqa: S608
                    {"k": key_id},
                )
            ]
            if not found:
                raise ApiKeyError(f"key {key_id[:40]!r} does not exist")
            if len(found) > 1:
                raise ApiKeyError(f"key {key_id[:40]!r} exists in several scopes: give --scope")
            scope = found[0]
        row = session.execute(
            f"UPDATE {scope.table} SET revoked_at = now(), revoked_by = :actor"  # noqa: S608
            " WHERE key_id = :key_id AND revoked_at IS NULL RETURNING organization_id",
            {"key_id": key_id, "actor": actor},
        ).rows
        if not row:
            known = session.scalar(
                f"SELECT 1 FROM {scope.table} WHERE key_id = :k",  # noqa: S608
                {"k": key_id},
            )
            state = "is already revoked" if known else "does not exist"
            raise ApiKeyError(f"{scope.name} key {key_id[:40]!r} {state}")
        org = str(row[0][0])
        record_event(
            session,
            organization_id=org,
            action=API_KEY_REVOKED,
            user_id=actor,
            resource_type=scope.resource_type,
            resource_id=key_id,
            details={"purpose": scope.name},
        )
    return org


@dataclass(frozen=True)
class ResolvedKey:
    """A valid key: whose it is and which one (the read API names it in its audit events)."""

    organization_id: str
    key_id: str


def resolve(db: Database, token: str, scope: KeyScope) -> ResolvedKey | None:
    """The organisation and key id a bearer token of `scope` serves, or None (unknown,
    malformed, revoked, or a key of another scope)."""
    parts = _split(token, scope)
    if parts is None:
        return None
    key_id, secret = parts
    with db.writer() as session:
        org = session.scalar(
            f"SELECT {scope.lookup}(:key_id, :digest)",
            {"key_id": key_id, "digest": _digest(secret)},
        )
    return ResolvedKey(str(org), key_id) if org is not None else None


def revoked_at(db: Database, scope: KeyScope, key_ids: Iterable[str]) -> dict[str, datetime]:
    """When each of `key_ids` that is revoked was revoked (unknown and live keys are absent)."""
    with db.admin() as session:
        rows = session.execute(
            f"SELECT key_id, revoked_at FROM {scope.table}"  # noqa: S608 - a fixed table name
            " WHERE key_id = ANY(CAST(:ids AS text[])) AND revoked_at IS NOT NULL",
            {"ids": sorted(key_ids)},
        ).rows
    return {str(k): t for k, t in rows}


def resolve_key(db: Database, token: str, scope: KeyScope = INGEST) -> str | None:
    """The organisation a bearer token of `scope` serves, or None (see `resolve`)."""
    found = resolve(db, token, scope)
    return found.organization_id if found else None


def list_keys(db: Database, org: str, scope: KeyScope | None = None) -> list[dict[str, object]]:
    """The organisation's keys of `scope` (every scope when None), never the secrets, newest
    first; each row says its `scope`."""
    # Scope names, views and columns are the fixed KeyScope values above, never input.
    parts = [
        f"SELECT '{s.name}' AS scope, key_id, label, created_at, created_by, revoked_at,"  # noqa: S608
        f" revoked_by FROM {s.view}"
        for s in ([scope] if scope else SCOPES.values())
    ]
    with db.org_session(org) as session:
        return session.execute(
            " UNION ALL ".join(parts) + " ORDER BY created_at DESC, key_id DESC"
        ).dicts()
