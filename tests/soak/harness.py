"""The soak: every promise of AuditLens at once, under load and attack, for a bounded time.

`run_soak(SoakConfig(seconds=45))` starts its own throwaway PostgreSQL (restarting it must not
disturb other tests), the HTTP receiver and SDK producer processes, and in-process actors
(`tests/soak/actors.py`): HTTP senders for two organisations, an expired-event seeder,
back-to-back retention purges, rollup refreshes, seals and dashboard-like sessions that search
and export. A seeded schedule kills the receiver and producers with SIGKILL and restarts the
database meanwhile. When the time is up everything stops by itself, what was spooled is
drained, a last purge and seal run, and `tests/soak/checks.py` checks the promises. The result
holds the figures and every problem found; nothing in it depends on timing to pass.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.keys import create_key
from ingest.receiver import Receiver
from ingest.refresh import refresh_now
from ingest.sdk import AuditLogger
from integrity.keys import generate, write_signing_key
from integrity.seal import seal_all
from sql.embedded import EmbeddedPostgres
from sql.gateway import Database
from sql.migrate import migrate
from sql.retention import purge, set_policy
from sql.settings import Settings
from tests.soak import actors, checks
from tests.soak.ledger import Ledger
from tests.soak.processes import ProducerProcess, ReceiverProcess
from tests.soak.workload import (
    DOOMED_BACKS,
    KEPT_DAYS,
    KEPT_FAMILY,
    ORGS,
    RoundState,
    month_start,
    read_acks,
)

DRAIN_TIMEOUT = 180.0
CHAOS_KINDS = ("receiver", "producer", "database")
# What the actors counted, printed with the figures.
COUNTED = (
    "rounds", "purges", "purged_during", "seals", "refreshes", "sessions", "cross_org_refused",
    "base_table_refused", "http_202_database", "http_202_spool", "http_duplicates",
    "http_unanswered", "http_503", "purge_ms", "seed_failures", "purge_failures", "seal_failures",
    "session_errors",
)  # fmt: skip


@dataclass(frozen=True)
class SoakConfig:
    seconds: float = 60.0  # of activity; setting up and draining come on top
    seed: int = 20261207
    http_senders: int = 3
    producers: int = 2
    sessions: int = 2
    months_per_round: int = 2
    round_seconds: float = 1.0
    # A receiver takes about 10 s to start on a loaded two-core machine.
    receiver_kill_every: tuple[float, float] = (20.0, 35.0)
    producer_kill_every: tuple[float, float] = (4.0, 9.0)
    database_restart_every: tuple[float, float] = (18.0, 40.0)
    database_outage: tuple[float, float] = (0.5, 2.5)
    work_dir: Path | None = None  # kept after the run when given (logs, spools)


@dataclass
class SoakResult:
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"{name}: {value}" for name, value in self.figures.items()]
        out.append("failures ridden out (first of each kind):")
        out.extend(f"  {kind}: {text}" for kind, texts in self.notes.items() for text in texts)
        out.append(f"problems: {len(self.problems)}")
        out.extend(f"  - {p}" for p in self.problems)
        return out


def chaos_schedule(config: SoakConfig, rng: random.Random) -> list[tuple[float, str, int]]:
    """(seconds after the start, what, which): kills and restarts, in time order. Each kind
    first strikes early enough to strike at least once; the last second of activity is left
    alone so that final acknowledgements can still arrive."""
    plan: list[tuple[float, str, int]] = []
    for kind, every, count in [
        ("receiver", config.receiver_kill_every, 1),
        ("producer", config.producer_kill_every, config.producers),
        ("database", config.database_restart_every, 1),
    ]:
        moment = rng.uniform(0.1, 0.4) * min(config.seconds, every[1])
        while moment < config.seconds - 1.0:
            plan.append((moment, kind, rng.randrange(count)))
            moment += rng.uniform(*every)
    return sorted(plan)


class Soak:
    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.own_dir = config.work_dir is None
        self.dir = config.work_dir or Path(tempfile.mkdtemp(prefix="auditlens-soak-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)  # the server may run as another account (see sql/embedded.py)
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.server = EmbeddedPostgres(self.dir / "pg", fast_unsafe=True)
        self.key = generate()
        self.state = RoundState(self.dir / "round.json")
        self.db: Database | None = None
        self.receiver: ReceiverProcess | None = None
        self.producers: list[ProducerProcess] = []
        self.restarts = 0
        self.url = ""

    # -- setting up --------------------------------------------------------------------------

    def setup(self) -> dict[str, str]:
        url = self.server.start()
        self.url = url
        self.db = Database(url, Settings(url, self.dir, max_rows=10_000))
        migrate(self.db)
        tokens = {}
        for org in ORGS:
            set_policy(self.db, org, KEPT_FAMILY, KEPT_DAYS, actor="soak:setup")
            tokens[org] = create_key(self.db, org, actor="soak:setup", label="soak").token
        doomed = actors.expired_batch(self.rng, [month_start(b) for b in DOOMED_BACKS], "doomed")
        if not actors.seed_expired(self.db, doomed, self.ledger):
            raise RuntimeError("could not store the doomed months' events")
        key_file = self.dir / "seal.key"
        write_signing_key(self.key, key_file)
        self.receiver = ReceiverProcess(
            url, self.dir / "receiver", key_file, self.dir / "receiver.log"
        )
        self.receiver.start_and_wait()
        return tokens

    def start_producers(self, until: float) -> None:
        for n in range(self.config.producers):
            producer = ProducerProcess(
                self.url,
                ORGS[n % len(ORGS)],
                f"sdk-{n}",
                self.dir / "sdk-spool",
                self.dir / f"acks-{n}.txt",
                self.state.path,
                self.config.seed + n,
                until,
                self.dir / f"producer-{n}.log",
            )
            producer.start()
            self.producers.append(producer)

    # -- chaos -------------------------------------------------------------------------------

    def chaos(self, kind: str, plan: list[tuple[float, str, int]], started: float) -> None:
        """Strike as `plan` says, for one kind of target (kinds run in threads of their own,
        so a slow restart of one does not delay the others)."""
        for moment, planned, which in plan:
            if planned != kind:
                continue
            if self.stop.wait(max(0.0, started + moment - time.monotonic())):
                return
            try:
                if kind == "receiver":
                    self._restart_receiver()
                elif kind == "producer":
                    producer = self.producers[which]
                    producer.kill9()
                    if not self.stop.is_set():
                        producer.start()
                else:
                    self.server.stop()
                    self.stop.wait(self.rng.uniform(*self.config.database_outage))
                    self.server.start()
                    self.restarts += 1
            except Exception as exc:
                self.ledger.problem(f"chaos: {kind} restart failed: {exc}")

    def _restart_receiver(self) -> None:
        """kill -9, then start again; a start during a database restart fails (it migrates
        first), so it is tried again, as a supervisor would."""
        assert self.receiver is not None
        self.receiver.kill9()
        for attempt in range(10):
            try:
                self.receiver.start_and_wait()
                return
            except RuntimeError as exc:
                self.ledger.note("receiver_start_failures", exc)
                self.receiver.kill9()
                if attempt == 9:
                    raise
                time.sleep(1.0)

    # -- running -----------------------------------------------------------------------------

    def run(self) -> SoakResult:
        begun = time.monotonic()
        try:
            tokens = self.setup()
            assert self.db is not None and self.receiver is not None
            started = time.monotonic()
            until = time.time() + self.config.seconds
            self.start_producers(until)
            threads = self._actors(tokens, started)
            for thread in threads:
                thread.start()
            self.stop.wait(self.config.seconds)
            self.stop.set()
            for thread in threads:
                thread.join(timeout=120)
                if thread.is_alive():
                    self.ledger.problem(f"{thread.name} did not stop within 120s")
            activity = time.monotonic() - started
            self._drain()
            result = self._check()
            result.figures["activity seconds"] = round(activity, 1)
            result.figures["total seconds"] = round(time.monotonic() - begun, 1)
            return result
        finally:
            self._teardown()

    def _actors(self, tokens: dict[str, str], started: float) -> list[threading.Thread]:
        assert self.db is not None and self.receiver is not None
        db, ledger, stop, state = self.db, self.ledger, self.stop, self.state
        seeds = iter(range(self.config.seed * 100, self.config.seed * 100 + 100))

        def rng() -> random.Random:
            return random.Random(next(seeds))

        plan = chaos_schedule(self.config, self.rng)
        jobs: list[tuple[str, Callable[..., None], tuple[Any, ...]]] = [
            *((f"chaos-{k}", self.chaos, (k, plan, started)) for k in CHAOS_KINDS),
            ("purger", actors.purger, (db, ledger, stop)),
            ("refresher", actors.refresher, (db, ledger, stop)),
            ("sealer", actors.sealer, (db, self.key, ledger, stop)),
        ]
        jobs.append(
            (
                "seeder",
                lambda: actors.seeder(
                    db,
                    rng(),
                    state,
                    ledger,
                    stop,
                    round_seconds=self.config.round_seconds,
                    months_per_round=self.config.months_per_round,
                ),
                (),
            )
        )
        port = self.receiver.port
        for n in range(self.config.http_senders):
            jobs.append(
                (f"sender-{n}", actors.http_sender, (n, port, tokens, rng(), state, ledger, stop))
            )
        for n in range(self.config.sessions):
            jobs.append((f"session-{n}", actors.session_actor, (n, db, rng(), ledger, stop)))
        return [
            threading.Thread(target=job, args=args, name=f"soak-{name}", daemon=True)
            for name, job, args in jobs
        ]

    # -- draining and checking ---------------------------------------------------------------

    def _drain(self) -> None:
        """Let every process end, then empty every spool into the database."""
        assert self.db is not None and self.receiver is not None
        if not self.server.is_running():
            self.server.start()
        for producer in self.producers:
            if not producer.wait(timeout=120):
                self.ledger.problem(f"producer {producer.name} did not stop by itself")
                producer.kill9()
            elif producer.proc is not None and producer.proc.returncode not in (0, -9):
                self.ledger.problem(
                    f"producer {producer.name} exited with {producer.proc.returncode}"
                )
        if not self.receiver.alive():
            self.receiver.start_and_wait()
        if not self.receiver.wait_drained(DRAIN_TIMEOUT):
            self.ledger.problem(f"the receiver's spool was not drained in {DRAIN_TIMEOUT:.0f}s")
        self.receiver.stop()
        for producer in self.producers:
            logger = AuditLogger(
                self.db, spool_dir=producer.spool, name=producer.name, close_at_exit=False
            )
            if not logger.flush(timeout=DRAIN_TIMEOUT):
                self.ledger.problem(f"spool {producer.name} was not drained")
            logger.close()
        # Anything the receiver left (it should be nothing) goes in the same way.
        leftover = Receiver(self.db, spool_dir=self.dir / "receiver" / "spool")
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while leftover.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        leftover.close()

    def _check(self) -> SoakResult:
        assert self.db is not None
        db, ledger = self.db, self.ledger
        as_of = datetime.now(UTC)
        final = purge(db, actor="soak:final", as_of=as_of)
        refresh_now(db)
        seal_all(db, self.key, orgs=list(ORGS))
        acked = dict(ledger.acked)
        sdk_acked = 0
        for producer in self.producers:
            ids = read_acks(producer.acks)
            sdk_acked += len(ids)
            acked.update(checks.acknowledged_by_producers(ids))
        figures: dict[str, Any] = {
            "seed": self.config.seed,
            "acknowledged over HTTP": ledger.counts["acknowledged_http"],
            "acknowledged by bulk writes": ledger.counts["acknowledged_bulk"],
            "acknowledged by the SDK": sdk_acked,
        }
        figures.update(checks.check_acknowledged(db, acked, ledger))
        figures.update(checks.check_retention(db, as_of, len(ledger.seeded_expired), ledger))
        figures["purged by the final purge"] = final.total
        figures.update(checks.check_exports(db, ledger))
        figures.update(checks.check_isolation(db, ledger))
        figures.update(checks.check_verify(db, self.key, ledger))
        assert self.receiver is not None
        figures["receiver kills survived"] = self.receiver.kills
        figures["producer kills survived"] = sum(p.kills for p in self.producers)
        figures["database restarts survived"] = self.restarts
        figures.update(checks.counted(ledger.counts, *COUNTED))
        return SoakResult(figures, list(ledger.problems), dict(ledger.notes))

    def _teardown(self) -> None:
        self.stop.set()
        for child in [self.receiver, *self.producers]:
            if child is not None and child.alive():
                child.kill9()
        if self.db is not None:
            self.db.close()
        self.server.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def run_soak(config: SoakConfig) -> SoakResult:
    return Soak(config).run()
