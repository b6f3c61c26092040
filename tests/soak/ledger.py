"""What the soak's actors saw and were told, kept for the checks at the end (thread-safe)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExportSeen:
    """An export whose bytes reached the soak (`failure` set: the call failed after them;
    `export_id` None: it had no record when its bytes came)."""

    org: str
    sha256: str
    rows: int
    export_id: int | None
    failure: str = ""  # why the call failed, when it did


@dataclass
class Ledger:
    acked: dict[str, str] = field(default_factory=dict)  # id -> organisation (HTTP, bulk)
    seeded_expired: set[str] = field(default_factory=set)
    exports: list[ExportSeen] = field(default_factory=list)
    # Ids without a soak prefix (AuditLens's own events) seen by a session of an organisation.
    unprefixed_seen: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # The first few distinct failures of each kind: what the actors rode out, for the report.
    notes: dict[str, list[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, ids: list[str], org: str, via: str) -> None:
        with self.lock:
            self.counts[f"acknowledged_{via}"] += len(ids)
            for event_id in ids:
                self.acked[event_id] = org

    def seeded(self, ids: list[str]) -> None:
        with self.lock:
            self.seeded_expired.update(ids)

    def export(self, seen: ExportSeen) -> None:
        with self.lock:
            self.exports.append(seen)

    def saw_unprefixed(self, event_id: str, org: str) -> None:
        with self.lock:
            self.unprefixed_seen.setdefault(event_id, org)

    def problem(self, text: str) -> None:
        with self.lock:
            if len(self.problems) < 200:
                self.problems.append(text)

    def note(self, kind: str, exc: BaseException) -> None:
        text = (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        )
        with self.lock:
            self.counts[kind] += 1
            seen = self.notes.setdefault(kind, [])
            if len(seen) < 3 and text[:300] not in seen:
                seen.append(text[:300])

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n
