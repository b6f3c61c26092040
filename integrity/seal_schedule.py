"""Sealing on a schedule: a background thread that seals every organisation every few minutes
in long-running processes, when a signing key is configured."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from integrity.keys import (
    SIGNING_KEY_ENV,
    SIGNING_KEY_FILE_ENV,
    SigningKey,
    load_signing_key,
)
from integrity.seal import seal_all
from integrity.seal_files import seal_dir_from_env
from integrity.seal_record import Seal
from sql.gateway import Database
from sql.periodic import PeriodicTask
from sql.settings import positive_float_env

SEAL_INTERVAL_ENV = "AUDITLENS_SEAL_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 300


def interval_from_env() -> float:
    return positive_float_env(SEAL_INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS)


class SealScheduler(PeriodicTask):
    """Seals every organisation every `interval` seconds in a background thread, for
    long-running processes (`auditlens serve-ingest`, `auditlens run`, `auditlens seal
    --forever`). The first run is immediate; `wait` (default: the stop event's wait, which
    returns True once stopped) is injectable so tests drive the loop without a clock."""

    def __init__(
        self,
        db: Database,
        key: SigningKey,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        seal_dir: Path | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_sealed: Callable[[list[Seal]], None] | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        super().__init__(
            self.run_once, name="auditlens-sealer", interval=interval, on_error=on_error, wait=wait
        )
        self.db, self.key, self.seal_dir = db, key, seal_dir
        self.on_sealed = on_sealed

    def run_once(self) -> list[Seal]:
        """One tick: seal every organisation now."""
        seals = seal_all(self.db, self.key, seal_dir=self.seal_dir)
        if self.on_sealed:
            self.on_sealed(seals)
        return seals

    def stop(self, timeout: float | None = 30) -> None:
        """Ask the loop to end and wait for a seal in progress to finish."""
        super().stop(timeout)


def signing_key_configured() -> bool:
    """True when AUDITLENS_SIGNING_KEY_FILE or AUDITLENS_SIGNING_KEY is set."""
    return bool(os.environ.get(SIGNING_KEY_FILE_ENV) or os.environ.get(SIGNING_KEY_ENV))


@contextmanager
def background_sealing(db: Database, log: Callable[[str], None]) -> Iterator[SealScheduler | None]:
    """Seal every AUDITLENS_SEAL_INTERVAL_SECONDS (default 300) while the block runs, when a
    signing key is configured; a configured key that cannot be loaded is an error, not a
    silent "no sealing". The scheduler is stopped (a seal in progress finishes) on exit."""
    if not signing_key_configured():
        log(f"sealing: off (set {SIGNING_KEY_FILE_ENV} to seal every organisation on a schedule)")
        yield None
        return
    scheduler = SealScheduler(
        db,
        load_signing_key(),
        interval=interval_from_env(),
        seal_dir=seal_dir_from_env(),
        on_error=lambda exc: log(f"sealing failed (will retry): {exc}"),
    )
    log(f"sealing every {scheduler.interval:g} s with key {scheduler.key.key_id}")
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()
