"""Dashboard accounts: built-in users with argon2id hashes, per-organisation roles, server-side
sessions that expire, and throttled, audited sign-in.

Roles per organisation: admin (everything, users), auditor (read, reports, exports), analyst
(read, triage; export only when the membership allows it). Account tables are not audit data:
they are read and written through `db.admin()` only; every change to them and every sign-in
(successful or not) is written as an audit event of the organisations concerned.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sql.errors import AuditLensError
from sql.event_store import record_event
from sql.gateway import Database, ScopedSession, check_org_id
from sql.vocabulary import (
    CHANGE_PERMISSIONS,
    INVITE_MEMBER,
    LOGIN,
    LOGIN_FAILED,
    LOGOUT,
    REMOVE_MEMBER,
    OwnAction,
)
from usecases import sign_in_throttle

ROLES = ("admin", "auditor", "analyst")
SESSION_TTL = timedelta(hours=8)
_EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,200}$")
# RFC 9106's second recommendation (argon2id, t=3, 64 MiB, p=4), argon2-cffi's default. The
# test suite hashes with cheaper parameters of its own (tests/conftest.py); a check reads the
# parameters from the stored hash, so hashes made either way verify.
PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the account is unknown takes as long as a real check, so
    the response time does not tell which addresses have accounts. Made on first use: every
    `auditlens` command imports this module, and one argon2 hash costs a noticeable start-up."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(AuditLensError):
    """A user or membership request is invalid (bad email, role, organisation)."""


class SignInRefused(AuditLensError):
    """Sign-in failed: wrong password, unknown or disabled account, or throttled."""


@dataclass(frozen=True)
class Membership:
    """The viewer's role in one organisation."""

    org: str
    role: str
    can_export: bool

    @property
    def may_export(self) -> bool:
        """Admins and auditors export; analysts only when their membership allows it."""
        return self.role in ("admin", "auditor") or self.can_export


@dataclass(frozen=True)
class Viewer:
    """A signed-in dashboard user and the organisations they may see."""

    user_id: str
    email: str
    display_name: str | None
    session_id: str | None
    memberships: dict[str, Membership] = field(default_factory=dict)

    @property
    def organizations(self) -> list[str]:
        return sorted(self.memberships)


def normalise_email(email: str) -> str:
    """Emails are compared lower-case; refuse anything that is not one address."""
    value = (email or "").strip().lower()
    if not _EMAIL.match(value):
        raise AccountError(f"email must be one address like name@company.com, got: {email!r}")
    return value


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got: {role!r}")
    return role


def generate_password() -> str:
    """A random password to hand out once (about 128 bits)."""
    return secrets.token_urlsafe(16)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit(
    session: ScopedSession,
    orgs: list[str],
    *,
    action: OwnAction,
    user_id: str | None,
    email: str | None,
    details: dict[str, Any],
    resource_type: str = "audit_log",
    resource_id: str | None = "dashboard",
    ip_address: str | None = None,
    user_agent: str | None = None,
    session_id: str | None = None,
) -> None:
    for org in orgs:
        record_event(
            session,
            organization_id=org,
            action=action,
            user_id=user_id,
            user_email=email,
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
            ip_address=ip_address,
            user_agent=user_agent,
            session_id=session_id,
        )


@dataclass(frozen=True)
class AddedUser:
    user_id: str
    email: str
    password: str | None  # set only when a new built-in account was created: show it once
    created: bool


def add_user(
    db: Database,
    *,
    email: str,
    org: str,
    role: str,
    can_export: bool = False,
    actor: str,
    display_name: str | None = None,
    with_password: bool = True,
) -> AddedUser:
    """Create the account if new (with a generated password) and set its role in `org`.

    Both the account creation and the membership are written as user_management events of
    the organisation.
    """
    email = normalise_email(email)
    check_role(role)
    check_org_id(org)
    with db.admin() as session:
        row = session.execute(
            "SELECT user_id FROM dashboard_users WHERE email = :email FOR UPDATE",
            {"email": email},
        ).rows
        password: str | None = None
        if row:
            user_id = str(row[0][0])
            created = False
        else:
            user_id = email
            password = generate_password() if with_password else None
            session.execute(
                "INSERT INTO dashboard_users (user_id, email, display_name, password_hash,"
                " created_by) VALUES (:uid, :email, :name, :hash, :actor)",
                {
                    "uid": user_id,
                    "email": email,
                    "name": display_name,
                    "hash": hash_password(password) if password else None,
                    "actor": actor,
                },
            )
            created = True
        previous = session.execute(
            "SELECT role, can_export FROM dashboard_memberships"
            " WHERE user_id = :uid AND organization_id = :org",
            {"uid": user_id, "org": org},
        ).rows
        session.execute(
            "INSERT INTO dashboard_memberships (user_id, organization_id, role, can_export,"
            " created_by) VALUES (:uid, :org, :role, :exp, :actor)"
            " ON CONFLICT (user_id, organization_id) DO UPDATE"
            " SET role = excluded.role, can_export = excluded.can_export",
            {"uid": user_id, "org": org, "role": role, "exp": can_export, "actor": actor},
        )
        session.execute(
            "INSERT INTO organizations (organization_id) VALUES (:org) ON CONFLICT DO NOTHING",
            {"org": org},
        )
        details: dict[str, Any] = {"role": role, "can_export": can_export, "new_account": created}
        if previous:
            details["old_values"] = {"role": previous[0][0], "can_export": previous[0][1]}
            details["new_values"] = {"role": role, "can_export": can_export}
        _audit(
            session,
            [org],
            action=CHANGE_PERMISSIONS if previous else INVITE_MEMBER,
            user_id=actor,
            email=None,
            details=details,
            resource_type="dashboard_user",
            resource_id=user_id,
        )
    return AddedUser(user_id, email, password, created)


def _memberships(session: ScopedSession, user_id: str) -> dict[str, Membership]:
    rows = session.execute(
        "SELECT organization_id, role, can_export FROM dashboard_memberships"
        " WHERE user_id = :uid ORDER BY organization_id",
        {"uid": user_id},
    ).rows
    return {str(org): Membership(str(org), str(role), bool(exp)) for org, role, exp in rows}


def authenticate(
    db: Database,
    email: str,
    password: str,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
    ttl: timedelta = SESSION_TTL,
) -> tuple[str, Viewer]:
    """Check a built-in account's password and open a session; returns (token, viewer).

    Failures are recorded (usecases.sign_in_throttle counts them, per account and source
    address) and written as `login_failed` events of the account's organisations; past a
    limit even a correct password is refused for a delay that grows with further failures.
    """
    try:
        address = normalise_email(email)
    except AccountError:
        raise SignInRefused("email or password is wrong") from None
    with db.admin() as session:
        throttle = sign_in_throttle.check(session, address, ip_address)
        account = session.execute(
            "SELECT user_id, password_hash, disabled, display_name FROM dashboard_users"
            " WHERE email = :email",
            {"email": address},
        ).rows
        user_id, stored_hash, disabled, _name = account[0] if account else (None, None, False, None)
        orgs = sorted(_memberships(session, user_id)) if user_id else []
        reason: str | None = None
        if throttle.refused:
            reason = "throttled"
        elif not _verify(stored_hash, password):
            reason = "wrong_password" if user_id else "unknown_account"
        elif disabled:
            reason = "disabled"
        elif not orgs:
            reason = "no_membership"
        if reason is None:
            sign_in_throttle.record_success(session, throttle)
        else:
            if reason != "throttled":
                sign_in_throttle.record_failure(session, throttle)
            session.execute(
                "INSERT INTO dashboard_login_attempts (email, succeeded, ip_address)"
                " VALUES (:email, false, :ip)",
                {"email": address, "ip": ip_address},
            )
            _audit(
                session,
                orgs,
                action=LOGIN_FAILED,
                user_id=user_id,
                email=address,
                details={
                    "reason": reason,
                    "method": "password",
                    "recent_failures": throttle.account_failures + (reason != "throttled"),
                },
                ip_address=ip_address,
                user_agent=user_agent,
            )
    # Commit the failure first, then refuse: the record must survive the refusal.
    if reason == "throttled":
        raise SignInRefused(
            f"too many failed sign-ins: try again in {throttle.retry_after_seconds} seconds"
        )
    if reason == "no_membership":
        raise SignInRefused("this account has no organisation yet: ask an admin for access")
    if reason is not None or user_id is None:  # no account: the password check has failed
        raise SignInRefused("email or password is wrong")
    return open_session(
        db,
        str(user_id),
        method="password",
        ip_address=ip_address,
        user_agent=user_agent,
        ttl=ttl,
    )


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def open_session(
    db: Database,
    user_id: str,
    *,
    method: str,
    ip_address: str | None = None,
    user_agent: str | None = None,
    ttl: timedelta = SESSION_TTL,
) -> tuple[str, Viewer]:
    """Start a dashboard session for an account; the login is audited in its organisations."""
    token = secrets.token_urlsafe(32)
    session_id = f"dash_{secrets.token_hex(8)}"
    with db.admin() as session:
        email, display_name = session.execute(
            "SELECT email, display_name FROM dashboard_users WHERE user_id = :uid",
            {"uid": user_id},
        ).rows[0]
        session.execute(
            "INSERT INTO dashboard_sessions (session_id, token_hash, user_id, expires_at,"
            " ip_address, user_agent) VALUES (:sid, :hash, :uid, now() + make_interval("
            "secs => :secs), :ip, :ua)",
            {
                "sid": session_id,
                "hash": _token_hash(token),
                "uid": user_id,
                "secs": ttl.total_seconds(),
                "ip": ip_address,
                "ua": user_agent,
            },
        )
        if method == "password":
            session.execute(
                "INSERT INTO dashboard_login_attempts (email, succeeded, ip_address)"
                " VALUES (:email, true, :ip)",
                {"email": email, "ip": ip_address},
            )
        memberships = _memberships(session, user_id)
        _audit(
            session,
            sorted(memberships),
            action=LOGIN,
            user_id=user_id,
            email=str(email),
            details={"method": method, "expires_in_seconds": int(ttl.total_seconds())},
            ip_address=ip_address,
            user_agent=user_agent,
            session_id=session_id,
        )
    viewer = Viewer(user_id, str(email), display_name, session_id, memberships)
    return token, viewer


def viewer_for_token(db: Database, token: str | None) -> Viewer | None:
    """The viewer of a live session token; None when unknown, ended, expired or disabled."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    with db.admin() as session:
        rows = session.execute(
            "SELECT s.session_id, u.user_id, u.email, u.display_name"
            " FROM dashboard_sessions s JOIN dashboard_users u USING (user_id)"
            " WHERE s.token_hash = :hash AND s.ended_at IS NULL AND s.expires_at > now()"
            " AND NOT u.disabled",
            {"hash": _token_hash(token)},
        ).rows
        if not rows:
            return None
        session_id, user_id, email, name = rows[0]
        return Viewer(
            str(user_id), str(email), name, str(session_id), _memberships(session, user_id)
        )


def viewer_for_email(db: Database, email: str) -> Viewer | None:
    """The account of an OIDC identity, matched by email (no session row: the IdP owns it)."""
    try:
        address = normalise_email(email)
    except AccountError:
        return None
    with db.admin() as session:
        rows = session.execute(
            "SELECT user_id, email, display_name FROM dashboard_users"
            " WHERE email = :email AND NOT disabled",
            {"email": address},
        ).rows
        if not rows:
            return None
        user_id, address, name = rows[0]
        return Viewer(str(user_id), str(address), name, None, _memberships(session, user_id))


def end_session(db: Database, token: str) -> None:
    """Sign out: the session ends now and the logout is audited."""
    viewer = viewer_for_token(db, token)
    with db.admin() as session:
        session.execute(
            "UPDATE dashboard_sessions SET ended_at = now()"
            " WHERE token_hash = :hash AND ended_at IS NULL",
            {"hash": _token_hash(token)},
        )
        if viewer is not None:
            _audit(
                session,
                viewer.organizations,
                action=LOGOUT,
                user_id=viewer.user_id,
                email=viewer.email,
                details={},
                session_id=viewer.session_id,
            )


DEMO_ADMIN_EMAIL = "admin@auditlens.local"
DEMO_ACTOR = "auditlens run (demo)"


def ensure_demo_admin(db: Database, *, demo_org: str = "org_demo") -> str | None:
    """On the first run, create the demo admin as admin of `demo_org`; returns its password
    once (None afterwards).

    The password is printed on a terminal, so the account must never open another tenant:
    later runs add no membership, and take back (audited) any that earlier versions of
    `auditlens run` granted outside `demo_org`.
    """
    with db.admin() as session:
        row = session.execute(
            "SELECT user_id, created_by FROM dashboard_users WHERE email = :email FOR UPDATE",
            {"email": DEMO_ADMIN_EMAIL},
        ).rows
        if row and row[0][1] == DEMO_ACTOR:
            granted = session.execute(
                "DELETE FROM dashboard_memberships WHERE user_id = :uid"
                " AND organization_id <> :org AND created_by = :actor"
                " RETURNING organization_id, role",
                {"uid": row[0][0], "org": demo_org, "actor": DEMO_ACTOR},
                max_rows=10_000,
            ).rows
            for org, role in granted:
                _audit(
                    session,
                    [str(org)],
                    action=REMOVE_MEMBER,
                    user_id=DEMO_ACTOR,
                    email=None,
                    details={"role": str(role), "reason": "demo admin is limited to " + demo_org},
                    resource_type="dashboard_user",
                    resource_id=str(row[0][0]),
                )
    if row:
        return None
    return add_user(
        db, email=DEMO_ADMIN_EMAIL, org=demo_org, role="admin", actor=DEMO_ACTOR
    ).password
