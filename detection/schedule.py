"""Detection on a schedule: every few minutes, each organisation's new whole days are scored,
the day still being written is re-scored, and findings not posted yet reach the webhook.

One run per organisation at a time, across processes: a run holds a PostgreSQL advisory
lock for its organisation (`org_lock`), so `auditlens run`, `serve-ingest` and a manual
`auditlens detect` never score the same days twice at once or post a finding twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from detection.model import ModelStore
from detection.notify import Webhook, notify_pending
from detection.pipeline import data_days, run_detection
from detection.stages import Stages
from sql.gateway import Database
from sql.periodic import PeriodicTask
from sql.settings import positive_int_env

DETECT_INTERVAL_ENV = "AUDITLENS_DETECT_INTERVAL_SECONDS"
# Ticks this far apart, plus a run's own time, keep a new finding within 5 minutes of its event.
DEFAULT_INTERVAL_SECONDS = 120
# The first key of the advisory lock pair: what is locked (the second is the organisation).
_LOCK_CLASS = "auditlens.detect"


def interval_from_env() -> int:
    return positive_int_env(DETECT_INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS)


@contextmanager
def org_lock(db: Database, org: str, *, wait: bool) -> Iterator[bool]:
    """Hold the organisation's detection lock for the block; yields whether it is held.

    A transaction-level advisory lock in a transaction of its own: it ends with the block,
    and with the process if that dies, so it can never be left behind. `wait=False` yields
    False at once when another run holds it.
    """
    with db.writer(timeout_ms=0) as session:
        key = {"what": _LOCK_CLASS, "org": org}
        if wait:
            session.execute("SELECT pg_advisory_xact_lock(hashtext(:what), hashtext(:org))", key)
            held = True
        else:
            held = bool(
                session.scalar(
                    "SELECT pg_try_advisory_xact_lock(hashtext(:what), hashtext(:org))", key
                )
            )
        yield held


@dataclass
class Tick:
    """What one scheduled run did for one organisation."""

    org: str
    skipped: bool = False  # another process was running it
    days: tuple[date, date] | None = None  # whole days newly scored
    current_day: date | None = None  # the day still being written, re-scored
    inserted: int = 0
    notified: int = 0
    stages: Stages = field(default_factory=Stages)

    def describe(self) -> str:
        if self.skipped:
            return f"{self.org}: another detection run holds it; skipped"
        parts = []
        if self.days:
            parts.append(f"{self.days[0]}..{self.days[1]}")
        if self.current_day:
            parts.append(f"{self.current_day} so far")
        scored = " and ".join(parts) or "nothing new"
        return f"{self.org}: {scored}: {self.inserted} new finding(s), {self.notified} notified"


def detect_and_notify(
    db: Database,
    org: str,
    *,
    today: date | None = None,
    webhook: Webhook | None = None,
    roster: Mapping[str, str] | None = None,
    store: ModelStore | None = None,
    actor: str = "system:schedule",
    wait: bool = False,
    opener: Callable[..., Any] | None = None,
) -> Tick:
    """One scheduled run for one organisation: new whole days, then today so far, then the
    webhook. Today's findings are kept from the webhook's severity up (high without one)."""
    today = today or datetime.now(UTC).date()
    tick = Tick(org)
    floor = webhook.min_severity if webhook is not None else "high"
    with org_lock(db, org, wait=wait) as held:
        if not held:
            tick.skipped = True
            return tick
        _, days, inserted = run_detection(
            db,
            org,
            peer_groups=roster,
            store=store,
            actor=actor,
            today=today,
            partial_min_severity=floor,
            stages=tick.stages,
        )
        tick.days, tick.inserted = days, inserted
        span = data_days(db, org)
        if span is not None and span[1] >= today:
            # The model is fitted again but not stored: one per tick would fill the disk.
            _, current, inserted = run_detection(
                db,
                org,
                start=today,
                end=today,
                peer_groups=roster,
                actor=actor,
                today=today,
                partial_min_severity=floor,
                stages=tick.stages,
            )
            tick.current_day = current[0] if current else None
            tick.inserted += inserted
        if webhook is not None:
            extra = {} if opener is None else {"opener": opener}
            tick.notified = notify_pending(db, webhook, org, **extra)
    return tick


def organizations(db: Database) -> list[str]:
    """Every organisation detection runs for."""
    with db.admin() as session:
        rows = session.execute(
            "SELECT organization_id FROM organizations ORDER BY organization_id", max_rows=100_000
        ).rows
    return [r[0] for r in rows]


class DetectionScheduler(PeriodicTask):
    """Runs `detect_and_notify` for every organisation every `interval` seconds in a
    background thread. The first tick is immediate; `wait` (default: the stop event's wait,
    True once stopped) and `today` are injectable so tests drive ticks without a clock."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        webhook: Webhook | None = None,
        store: ModelStore | None = None,
        on_tick: Callable[[Tick], None] | None = None,
        on_error: Callable[[str, Exception], None] | None = None,
        wait: Callable[[float], bool] | None = None,
        today: Callable[[], date] | None = None,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        # A failure of the whole tick (listing the organisations) is reported as org "*".
        failed = None if on_error is None else (lambda exc: on_error("*", exc))
        super().__init__(
            self.run_once, name="auditlens-detect", interval=interval, on_error=failed, wait=wait
        )
        self.db, self.webhook, self.store = db, webhook, store
        self.on_tick, self.on_org_error = on_tick, on_error
        self._today = today or (lambda: datetime.now(UTC).date())
        self._opener = opener
        self.ticks = 0

    def run_once(self) -> list[Tick]:
        """One tick over every organisation; one organisation's failure does not stop the
        others (it is reported through `on_error`, else raised after the rest ran)."""
        ticks: list[Tick] = []
        failure: Exception | None = None
        for org in organizations(self.db):
            try:
                tick = detect_and_notify(
                    self.db,
                    org,
                    today=self._today(),
                    webhook=self.webhook,
                    store=self.store,
                    opener=self._opener,
                )
            except Exception as exc:
                if self.on_org_error is None:
                    failure = failure or exc
                else:
                    self.on_org_error(org, exc)
                continue
            ticks.append(tick)
            if self.on_tick is not None:
                self.on_tick(tick)
        self.ticks += 1
        if failure is not None:
            raise failure
        return ticks


@contextmanager
def background_detection(db: Database, log: Callable[[str], None]) -> Iterator[DetectionScheduler]:
    """Detect every AUDITLENS_DETECT_INTERVAL_SECONDS (default 120) while the block runs,
    posting new findings to AUDITLENS_WEBHOOK_URL when it is set."""
    webhook = Webhook.from_env()
    scheduler = DetectionScheduler(
        db,
        interval=interval_from_env(),
        webhook=webhook,
        store=ModelStore(db.settings.data_dir / "models"),
        on_tick=lambda tick: log(f"detection: {tick.describe()}") if tick.inserted else None,
        on_error=lambda org, exc: log(f"detection of {org} failed (will retry): {exc}"),
    )
    where = "" if webhook is None else f", new findings to {webhook!r}"
    log(f"detection every {scheduler.interval:g} s{where}")
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()
