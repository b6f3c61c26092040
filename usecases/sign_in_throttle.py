"""Sign-in throttling: failures counted per account and source address, with a growing delay.

Three counters decide: an account from one source address (the guesser locks only itself
out, not the owner elsewhere), a source address across accounts (password spraying), and an
account from everywhere (a guesser with many addresses, at a higher limit). Past its limit a
counter refuses for a delay that doubles with each further failure, capped at the window;
failures older than the window are forgotten, so nobody is locked out for good.

Times are clock_timestamp(), not now(): a sign-in that waited for another's lock must not
measure from the moment its own transaction began.

`check` locks the counter rows (INSERT ... ON CONFLICT DO UPDATE) in the caller's
transaction, which then verifies the password and calls `record_failure` or `record_success`
before committing: concurrent guesses at one account or from one address are decided one
after another, each seeing the failures before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sql.gateway import ScopedSession

FAILURE_WINDOW = timedelta(minutes=15)
FIRST_DELAY = timedelta(seconds=30)
# Failures allowed before the delay starts, per scope.
LIMITS = {"account_source": 5, "source": 20, "account": 50}
# Sign-ins without a known client address (the command line, scripts) share one source.
UNKNOWN_SOURCE = "unknown"
# Stale counters each sign-in deletes: more than the three it may create, so the table stays
# as small as the sign-ins of one window.
_PRUNE_BATCH = 20


@dataclass(frozen=True)
class Throttle:
    """The counters one sign-in consulted, and how long it must wait (0 when it may try)."""

    keys: dict[str, str]
    failures: dict[str, int]
    retry_after_seconds: int

    @property
    def refused(self) -> bool:
        return self.retry_after_seconds > 0

    @property
    def account_failures(self) -> int:
        return self.failures["account_source"]


def delay_after(failures: int, limit: int) -> timedelta:
    """The wait after `failures` recent failures: none below the limit, then doubling."""
    if failures < limit:
        return timedelta(0)
    steps = min(failures - limit, 16)
    return min(FIRST_DELAY * 2**steps, FAILURE_WINDOW)


def _keys(email: str, ip_address: str | None) -> dict[str, str]:
    source = ip_address or UNKNOWN_SOURCE
    # Dict order is the lock order: the same for every sign-in, so two never deadlock.
    return {"account": email, "account_source": f"{email} {source}", "source": source}


def check(session: ScopedSession, email: str, ip_address: str | None) -> Throttle:
    """Lock this sign-in's counters until the transaction ends and say whether it must wait."""
    keys = _keys(email, ip_address)
    window = FAILURE_WINDOW.total_seconds()
    # SKIP LOCKED: never wait for, or deadlock with, a sign-in holding one of these rows.
    session.execute(
        "DELETE FROM dashboard_sign_in_throttle WHERE (scope, key) IN ("
        " SELECT scope, key FROM dashboard_sign_in_throttle"
        " WHERE last_failure_at < clock_timestamp() - make_interval(secs => :window)"
        " LIMIT :batch FOR UPDATE SKIP LOCKED)",
        {"window": window, "batch": _PRUNE_BATCH},
    )
    failures: dict[str, int] = {}
    wait = 0.0
    for scope, key in keys.items():
        count, since_last = session.execute(
            "INSERT INTO dashboard_sign_in_throttle AS t (scope, key) VALUES (:scope, :key)"
            " ON CONFLICT (scope, key) DO UPDATE SET failures = CASE"
            " WHEN t.last_failure_at < clock_timestamp() - make_interval(secs => :window)"
            " THEN 0 ELSE t.failures END"
            " RETURNING failures, extract(epoch FROM clock_timestamp() - last_failure_at)::float8",
            {"scope": scope, "key": key, "window": window},
        ).rows[0]
        failures[scope] = int(count)
        delay = delay_after(int(count), LIMITS[scope])
        if delay:
            wait = max(wait, delay.total_seconds() - float(since_last))
    return Throttle(keys, failures, int(-(-wait // 1)) if wait > 0 else 0)


def record_failure(session: ScopedSession, throttle: Throttle) -> None:
    """Count a failed password check against every scope (a refused wait is not counted)."""
    for scope, key in throttle.keys.items():
        session.execute(
            "UPDATE dashboard_sign_in_throttle SET failures = failures + 1,"
            " last_failure_at = clock_timestamp() WHERE scope = :scope AND key = :key",
            {"scope": scope, "key": key},
        )


def record_success(session: ScopedSession, throttle: Throttle) -> None:
    """The right password clears the account's counters; the source's stays (spraying)."""
    for scope in ("account", "account_source"):
        session.execute(
            "UPDATE dashboard_sign_in_throttle SET failures = 0"
            " WHERE scope = :scope AND key = :key",
            {"scope": scope, "key": throttle.keys[scope]},
        )
