"""Where a detection run spends its time: named stages, timed as they run, for the command's
progress line and the benchmark."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stages:
    """Seconds per named stage; a stage entered twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def describe(self, *, min_seconds: float = 0.05) -> str:
        """'read 3.1 s, features 2.0 s, ...' in the order the stages first ran."""
        shown = [f"{name} {s:.1f} s" for name, s in self.seconds.items() if s >= min_seconds]
        return ", ".join(shown) or "no stage took measurable time"
