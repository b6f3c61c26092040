"""One job on a schedule in a background thread, for long-running processes: sealing,
detection and streaming each run one of these."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self


class PeriodicTask:
    """Calls `job` at once, then again `interval` seconds after each call ends, until stopped.

    A call that raises goes to `on_error` and the schedule goes on, the next call
    `error_interval` seconds later (default `interval`); without `on_error` it ends the loop.
    `again(result)` true means more work is waiting: the next call comes at once. `wait`
    (default the stop event's wait, True once stopped) is injectable so tests drive the loop
    without a clock; `stop` lets a caller's own event end a loop run in its thread.
    """

    def __init__(
        self,
        job: Callable[[], Any],
        *,
        name: str,
        interval: float,
        on_error: Callable[[Exception], None] | None = None,
        error_interval: float | None = None,
        again: Callable[[Any], bool] | None = None,
        wait: Callable[[float], bool] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.job, self.name, self.interval = job, name, interval
        self.on_error, self.again = on_error, again
        self.error_interval = interval if error_interval is None else error_interval
        self._stop = stop or threading.Event()
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None
        self.runs = 0  # calls ended, done or failed
        self.first_run_done = threading.Event()  # set after the first call, done or failed

    def run_forever(self) -> None:
        """The loop itself, in the caller's thread (`start` runs it in a thread of its own)."""
        while not self._stop.is_set():
            try:
                result = self.job()
            except Exception as exc:  # a failed call must not end the schedule
                if self.on_error is None:
                    raise
                self.on_error(exc)
                pause = self.error_interval
            else:
                pause = 0.0 if self.again is not None and self.again(result) else self.interval
            finally:
                self.runs += 1
                self.first_run_done.set()
            if pause and self._wait(pause):
                break

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.run_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 60) -> None:
        """Ask the loop to end and wait (up to `timeout`) for a call in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
