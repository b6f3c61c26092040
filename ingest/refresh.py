"""Keeping the read model (rollups) current after ingest without slowing ingest down."""

from __future__ import annotations

import threading
import time

from sql.gateway import Database
from sql.periodic import PeriodicTask
from sql.read_model import ReadModel


class ReadModelRefresher(PeriodicTask):
    """Call it after each stored batch: a background thread runs `ReadModel(db).refresh()`
    (incremental) at most once per `interval` seconds, and never more than a third of the
    time (after a refresh that took t seconds it waits at least 2t), so under heavy ingest
    the rollups do not take the cores the writers need. Reads include events past the
    watermark, so nothing waits for a refresh."""

    def __init__(self, db: Database, *, interval: float = 2.0) -> None:
        self._stopping = threading.Event()
        super().__init__(
            self._refresh_when_asked,
            name="auditlens-refresh",
            interval=interval,
            # Rollups catch up on the next batch: a failed refresh only waits for it.
            on_error=lambda _exc: None,
            wait=self._pause,
            stop=self._stopping,
        )
        self.db = db
        self.refreshes = 0
        self._model = ReadModel(db)
        self._asked = threading.Event()
        self._took = 0.0  # the last refresh's duration
        self.start()

    def __call__(self) -> None:
        self._asked.set()

    def _refresh_when_asked(self) -> None:
        self._asked.wait()
        if self._stopping.is_set():
            return
        self._asked.clear()
        started = time.monotonic()
        try:
            # A refresh already running takes these events too: do not queue behind it.
            self._model.refresh(wait=False)
            self.refreshes += 1
        finally:
            self._took = time.monotonic() - started

    def _pause(self, interval: float) -> bool:
        return self._stopping.wait(max(interval, 2 * self._took))

    def close(self) -> None:
        self._stopping.set()
        self._asked.set()  # a thread waiting for a batch wakes up and sees the stop
        self.stop(timeout=30)


def refresh_now(db: Database) -> str | None:
    """One refresh, now (after an import). Returns None when done, else why it failed: the
    events are stored either way, and the next refresh catches up, so a failed refresh is a
    warning, not a failed import."""
    try:
        ReadModel(db).refresh()
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None
