"""Built-in accounts: argon2 hashes, roles per organisation, expiring sessions, throttled and
audited sign-in."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import profiles

from sql.gateway import Database
from usecases import accounts, sign_in_throttle
from usecases.accounts import SignInRefused

ROOT = Path(__file__).resolve().parents[2]


def _events(db: Database, org: str, action: str) -> list[dict]:
    with db.org_session(org) as s:
        return s.execute(
            "SELECT event_type, event_action, user_id, user_email, details, session_id"
            " FROM org_audit_events WHERE event_action = :a ORDER BY ingest_seq",
            {"a": action},
        ).dicts()


def test_the_product_hashes_passwords_at_rfc_9106s_cost():
    """Tests hash cheaply (tests/conftest.py): a fresh interpreter shows the product's cost."""
    script = "from usecases.accounts import hash_password; print(hash_password('pw'))"
    stored = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    assert accounts.PASSWORD_PARAMETERS == profiles.RFC_9106_LOW_MEMORY


def test_new_account_gets_an_argon2_hash_and_an_audited_membership(db):
    added = accounts.add_user(
        db, email="Ann@Example.com", org="org_a", role="analyst", can_export=True, actor="t"
    )
    assert added.created and added.email == "ann@example.com" and len(added.password) >= 20
    with db.admin() as s:
        stored = s.scalar(
            "SELECT password_hash FROM dashboard_users WHERE email = :e", {"e": "ann@example.com"}
        )
    assert stored.startswith("$argon2id$") and added.password not in stored
    (event,) = _events(db, "org_a", "invite_member")
    assert event["event_type"] == "user_management"
    assert event["details"]["role"] == "analyst" and event["details"]["can_export"] is True

    again = accounts.add_user(db, email="ann@example.com", org="org_a", role="auditor", actor="t")
    assert not again.created and again.password is None
    (change,) = _events(db, "org_a", "change_permissions")
    assert change["details"]["old_values"]["role"] == "analyst"
    assert change["details"]["new_values"]["role"] == "auditor"


@pytest.mark.parametrize(
    ("role", "can_export", "may"),
    [
        ("admin", False, True),
        ("auditor", False, True),
        ("analyst", False, False),
        ("analyst", True, True),
    ],
)
def test_export_right_follows_the_role(role, can_export, may):
    assert accounts.Membership("org_a", role, can_export).may_export is may


def test_bad_role_and_email_are_refused_with_the_field_named(db):
    with pytest.raises(accounts.AccountError, match="role must be one of"):
        accounts.add_user(db, email="a@b.c", org="org_a", role="root", actor="t")
    with pytest.raises(accounts.AccountError, match="email must be"):
        accounts.add_user(db, email="not an email", org="org_a", role="admin", actor="t")


def test_sign_in_opens_a_session_that_is_audited_and_ends(db):
    added = accounts.add_user(db, email="bob@example.com", org="org_a", role="admin", actor="t")
    token, viewer = accounts.authenticate(
        db, "BOB@example.com", added.password, ip_address="10.0.0.7"
    )
    assert viewer.organizations == ["org_a"] and viewer.memberships["org_a"].role == "admin"
    assert accounts.viewer_for_token(db, token).user_id == viewer.user_id
    (login,) = _events(db, "org_a", "login")
    assert login["session_id"] == viewer.session_id and login["user_email"] == "bob@example.com"

    accounts.end_session(db, token)
    assert accounts.viewer_for_token(db, token) is None
    assert len(_events(db, "org_a", "logout")) == 1


def test_expired_session_is_not_a_session(db):
    added = accounts.add_user(db, email="c@example.com", org="org_a", role="admin", actor="t")
    token, _ = accounts.authenticate(db, "c@example.com", added.password, ttl=timedelta(seconds=-1))
    assert accounts.viewer_for_token(db, token) is None
    assert accounts.viewer_for_token(db, "forged-token") is None
    assert accounts.viewer_for_token(db, None) is None


def test_failed_sign_ins_are_audited_and_throttled(db):
    added = accounts.add_user(db, email="d@example.com", org="org_a", role="analyst", actor="t")
    limit = sign_in_throttle.LIMITS["account_source"]
    for _ in range(limit):
        with pytest.raises(SignInRefused, match="email or password is wrong"):
            accounts.authenticate(db, "d@example.com", "guess", ip_address="203.0.113.9")
    failures = _events(db, "org_a", "login_failed")
    assert len(failures) == limit
    assert failures[0]["event_type"] == "login"
    assert failures[0]["details"]["reason"] == "wrong_password"
    # Even the right password is refused from that address while throttled, and audited too.
    with pytest.raises(SignInRefused, match=r"too many failed sign-ins: try again in \d+ seconds"):
        accounts.authenticate(db, "d@example.com", added.password, ip_address="203.0.113.9")
    assert _events(db, "org_a", "login_failed")[-1]["details"]["reason"] == "throttled"
    assert _events(db, "org_a", "login") == []
    # The guesser locked out only itself: the owner signs in from elsewhere.
    accounts.authenticate(db, "d@example.com", added.password, ip_address="198.51.100.4")
    assert len(_events(db, "org_a", "login")) == 1


def _age_counters(db: Database, seconds: float) -> None:
    with db.admin() as s:
        s.execute(
            "UPDATE dashboard_sign_in_throttle"
            " SET last_failure_at = last_failure_at - make_interval(secs => :s)",
            {"s": seconds},
        )


def _retry_after(refusal: SignInRefused) -> int:
    found = re.fullmatch(r"too many failed sign-ins: try again in (\d+) seconds", str(refusal))
    assert found, refusal
    return int(found.group(1))


def test_throttling_backs_off_and_forgets_instead_of_locking_out(db):
    added = accounts.add_user(db, email="g@example.com", org="org_a", role="admin", actor="t")
    ip = "203.0.113.20"
    for _ in range(sign_in_throttle.LIMITS["account_source"]):
        with pytest.raises(SignInRefused, match="wrong"):
            accounts.authenticate(db, "g@example.com", "guess", ip_address=ip)
    # Refusals while waiting are not guesses and do not lengthen the wait.
    for _ in range(3):
        with pytest.raises(SignInRefused) as refused:
            accounts.authenticate(db, "g@example.com", "guess", ip_address=ip)
        assert 0 < _retry_after(refused.value) <= 30
    _age_counters(db, 31)
    with pytest.raises(SignInRefused, match="wrong"):
        accounts.authenticate(db, "g@example.com", "guess", ip_address=ip)
    # One more failure past the limit doubles the wait.
    with pytest.raises(SignInRefused) as refused:
        accounts.authenticate(db, "g@example.com", added.password, ip_address=ip)
    assert 30 < _retry_after(refused.value) <= 60
    _age_counters(db, sign_in_throttle.FAILURE_WINDOW.total_seconds() + 1)
    accounts.authenticate(db, "g@example.com", added.password, ip_address=ip)
    assert sign_in_throttle.delay_after(10_000, 5) == sign_in_throttle.FAILURE_WINDOW


def test_concurrent_guesses_are_counted_one_after_another(db):
    accounts.add_user(db, email="h@example.com", org="org_a", role="admin", actor="t")
    threads = 2 * sign_in_throttle.LIMITS["account_source"]
    barrier = threading.Barrier(threads)
    errors: list[str] = []

    def guess() -> None:
        barrier.wait()
        try:
            accounts.authenticate(db, "h@example.com", "guess", ip_address="203.0.113.30")
        except SignInRefused as exc:
            errors.append(str(exc))

    workers = [threading.Thread(target=guess) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    reasons = sorted(e["details"]["reason"] for e in _events(db, "org_a", "login_failed"))
    limit = sign_in_throttle.LIMITS["account_source"]
    assert reasons == ["throttled"] * (threads - limit) + ["wrong_password"] * limit
    assert len(errors) == threads


def test_spraying_across_accounts_is_limited_per_source_address(db):
    limit = sign_in_throttle.LIMITS["source"]
    ip = "203.0.113.40"
    for n in range(limit):
        with pytest.raises(SignInRefused, match="wrong"):
            accounts.authenticate(db, f"user{n}@example.com", "Winter2024!", ip_address=ip)
    added = accounts.add_user(db, email="i@example.com", org="org_a", role="admin", actor="t")
    with pytest.raises(SignInRefused, match="too many failed sign-ins"):
        accounts.authenticate(db, "i@example.com", added.password, ip_address=ip)
    # A correct sign-in does not reset the source's count (an attacker's own account would).
    accounts.authenticate(db, "i@example.com", added.password, ip_address="198.51.100.5")
    with pytest.raises(SignInRefused, match="too many failed sign-ins"):
        accounts.authenticate(db, "someone@example.com", "x", ip_address=ip)


def test_unknown_account_and_disabled_account_are_refused_alike(db):
    with pytest.raises(SignInRefused, match="email or password is wrong"):
        accounts.authenticate(db, "nobody@example.com", "x")
    added = accounts.add_user(db, email="e@example.com", org="org_a", role="admin", actor="t")
    with db.admin() as s:
        s.execute(
            "UPDATE dashboard_users SET disabled = true WHERE user_id = :u", {"u": added.user_id}
        )
    with pytest.raises(SignInRefused, match="email or password is wrong"):
        accounts.authenticate(db, "e@example.com", added.password)


def test_demo_admin_is_created_once_and_only_ever_admin_of_org_demo(db):
    with db.admin() as s:
        s.execute("INSERT INTO organizations (organization_id) VALUES ('org_other')")
    password = accounts.ensure_demo_admin(db)
    assert password
    _token, viewer = accounts.authenticate(db, accounts.DEMO_ADMIN_EMAIL, password)
    assert viewer.organizations == ["org_demo"]
    # A tenant that appears later is not opened to whoever saw the printed password.
    with db.admin() as s:
        s.execute("INSERT INTO organizations (organization_id) VALUES ('org_new')")
    assert accounts.ensure_demo_admin(db) is None
    assert accounts.viewer_for_email(db, accounts.DEMO_ADMIN_EMAIL).organizations == ["org_demo"]


def test_a_restart_takes_back_what_earlier_runs_granted_the_demo_admin(db):
    accounts.ensure_demo_admin(db)
    # What `auditlens run` used to do on each start: admin of every organisation.
    accounts.add_user(
        db, email=accounts.DEMO_ADMIN_EMAIL, org="org_a", role="admin", actor=accounts.DEMO_ACTOR
    )
    # A membership a real admin granted on purpose stays.
    accounts.add_user(db, email=accounts.DEMO_ADMIN_EMAIL, org="org_b", role="analyst", actor="t")
    assert accounts.ensure_demo_admin(db) is None
    viewer = accounts.viewer_for_email(db, accounts.DEMO_ADMIN_EMAIL)
    assert viewer.organizations == ["org_b", "org_demo"]
    removed = _events(db, "org_a", "remove_member")
    assert [e["details"]["role"] for e in removed] == ["admin"]


def test_stale_counters_are_pruned_and_long_addresses_fit(db):
    longest = "a" * 200 + "@" + "b" * 200
    with pytest.raises(SignInRefused, match="wrong"):
        accounts.authenticate(db, longest, "x", ip_address="2001:db8::1")
    with db.admin() as s:
        s.execute(
            "INSERT INTO dashboard_sign_in_throttle (scope, key, failures, last_failure_at)"
            " SELECT 'account', 'made-up' || n || '@example.com', 1, now() - interval '1 day'"
            " FROM generate_series(1, 30) AS n"
        )
    with pytest.raises(SignInRefused, match="wrong"):
        accounts.authenticate(db, "j@example.com", "x", ip_address="203.0.113.50")
    with db.admin() as s:
        stale = s.scalar(
            "SELECT count(*) FROM dashboard_sign_in_throttle WHERE key LIKE 'made-up%'"
        )
    assert stale == 30 - sign_in_throttle._PRUNE_BATCH
