"""Keeping the read model (rollups) current after ingest without slowing ingest down."""

from __future__ import annotations

import threading
import time

from sql.gateway import Database
from sql.read_model import ReadModel


class ReadModelRefresher:
    """Call it after each stored batch: a background thread runs `ReadModel(db).refresh()`
    (incremental) at most once per `interval` seconds, and never more than a third of the
    time (after a refresh that took t seconds it waits at least 2t), so under heavy ingest
    the rollups do not take the cores the writers need. Reads include events past the
    watermark, so nothing waits for a refresh."""

    def __init__(self, db: Database, *, interval: float = 2.0) -> None:
        self.db = db
        self.interval = interval
        self.refreshes = 0
        self._signal = threading.Event()
        self._stop = threading.Event()
        self._model = ReadModel(db)
        self._thread = threading.Thread(target=self._run, name="auditlens-refresh", daemon=True)
        self._thread.start()

    def __call__(self) -> None:
        self._signal.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._signal.wait()
            if self._stop.is_set():
                return
            self._signal.clear()
            started = time.monotonic()
            try:
                # A refresh already running takes these events too: do not queue behind it.
                self._model.refresh(wait=False)
                self.refreshes += 1
            except Exception:  # noqa: S110 - rollups catch up on the next batch
                pass
            self._stop.wait(max(self.interval, 2 * (time.monotonic() - started)))

    def close(self) -> None:
        self._stop.set()
        self._signal.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


def refresh_now(db: Database) -> str | None:
    """One refresh, now (after an import). Returns None when done, else why it failed: the
    events are stored either way, and the next refresh catches up, so a failed refresh is a
    warning, not a failed import."""
    try:
        ReadModel(db).refresh()
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None
