"""Side by side, one run: the benchmark organisation on plain PostgreSQL and on TimescaleDB.

    export AUDITLENS_DATABASE_URL=postgresql://auditlens@127.0.0.1:55433/postgres
    PYTHONPATH=. .venv/bin/python bench/timescale.py --users 6242      # ~10M events
    PYTHONPATH=. .venv/bin/python bench/timescale.py --events 500000   # a quick run

The server of AUDITLENS_DATABASE_URL (a superuser URL) must preload TimescaleDB. Both copies
of `bench/queries.py`'s organisation live there, in the kept databases that
`bench.queries.kept_database` names for each storage (`AUDITLENS_TIMESCALEDB=off`, `auto`);
a copy that is missing or empty is created, migrated and loaded the way `bench/detect.py`
loads it (`bulk_load`), then rolled up; one already loaded is only read, never migrated or
written, except that the TimescaleDB copy's old chunks are compressed by AuditLens's own
compression (`sql.compression`) if they are not yet.

Printed per storage: load time (the span of the events' received_at, first to last ingest
transaction; the wall time too when this run loaded it), rollup refresh and compression
time, size on disk (the events' table, its indexes, the rollups, continuous aggregates if
any, and in total), the compression ratio; then every dashboard read of `bench/queries.py`,
timed alternately on both copies, median and p95, and the ratio TimescaleDB / PostgreSQL.
Goal: every read at most 1.0x, and the stored total at most a third of plain PostgreSQL's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queries import (
    EVENTS_PER_USER_DAY,
    START,
    _percentile,
    bulk_load,
    dashboard_reads,
    ensure_database,
    kept_database,
    secondary_indexes_rebuilt,
    simulation,
)
from sql.compression import compress_old_chunks
from sql.gateway import Database
from sql.migrate import TIMESCALEDB_ENV, migrate
from sql.read_model import ReadModel
from sql.settings import DATABASE_URL_ENV, Settings
from sql.vocabulary import EVENT_COLUMNS

DAYS = 90
STORAGES = {"PostgreSQL": "off", "TimescaleDB": "auto"}
MIB = 2**20


@dataclass
class Sizes:
    table: int  # the events' heap and TOAST (TimescaleDB: chunks and compressed batches)
    indexes: int
    rollups: int  # rollup tables with their indexes
    aggregates: int  # continuous aggregates' materialisations, indexes included
    before_compression: int | None = None  # TimescaleDB: compressed chunks' bytes before
    after_compression: int | None = None

    @property
    def total(self) -> int:
        return self.table + self.indexes + self.rollups + self.aggregates


@contextmanager
def _storage(mode: str) -> Iterator[None]:
    """AUDITLENS_TIMESCALEDB as `mode` while a kept database is named and migrated."""
    previous = os.environ.get(TIMESCALEDB_ENV)
    os.environ[TIMESCALEDB_ENV] = mode
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(TIMESCALEDB_ENV, None)
        else:
            os.environ[TIMESCALEDB_ENV] = previous


def copy_load(db: Database, source: Database) -> int:
    """The events (and organisations) of an already loaded database, copied as they are
    (COPY out, COPY in: the server sets its own columns again) instead of simulated again,
    the secondary indexes built after the copy as `bulk_load` does."""
    columns = ", ".join(EVENT_COLUMNS)
    with (
        secondary_indexes_rebuilt(db),
        source.raw_connection() as src,
        db.raw_connection() as dst,
    ):
        for org in src.execute(
            "SELECT organization_id, time_zone, work_start_hour, work_end_hour FROM organizations"
        ).fetchall():
            dst.execute(
                "INSERT INTO organizations (organization_id, time_zone, work_start_hour,"
                " work_end_hour) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                org,
            )
        with (
            src.cursor().copy(
                f"COPY (SELECT {columns} FROM audit_events WHERE NOT own_use)"
                " TO STDOUT (FORMAT binary)"
            ) as out,
            dst.cursor().copy(f"COPY audit_events ({columns}) FROM STDIN (FORMAT binary)") as into,
        ):
            for data in out:
                into.write(data)
        dst.commit()
        src.rollback()
        row = dst.execute("SELECT count(*) FROM audit_events").fetchone()
    return int(row[0]) if row else 0


def prepare(
    server_url: str, storage: str, users: int, seed: int, *, source: Database | None = None
) -> tuple[Database, float | None]:
    """The kept database of this storage, loaded and rolled up (copied from `source` when
    given); the load's wall seconds when this run loaded it."""
    with _storage(STORAGES[storage]):
        name = kept_database(users, DAYS, seed)
        url = ensure_database(server_url, name)
        db = Database(url, Settings(database_url=url, data_dir=Path(tempfile.gettempdir())))
        with psycopg.connect(url.replace("+psycopg", "", 1)) as conn:
            row = conn.execute("SELECT to_regclass('audit_events') IS NOT NULL").fetchone()
            loaded = bool(row and row[0]) and bool(
                conn.execute("SELECT EXISTS (SELECT 1 FROM audit_events)").fetchone()[0]  # type: ignore[index]
            )
        print(f"{storage}: database {name}{' (loaded before: only read)' if loaded else ''}")
        if loaded:
            return db, None
        migrate(db)
    if (storage == "TimescaleDB") != db.capabilities.hypertables:
        raise SystemExit(f"{storage}: the server gave {db.capabilities.describe()}")
    began = time.perf_counter()
    if source is not None:
        print("  copying the events of the PostgreSQL copy (no simulation) ...", flush=True)
        inserted = copy_load(db, source)
    else:
        print(f"  loading {users:,} users x {DAYS} days from {START} ...", flush=True)
        inserted = bulk_load(db, simulation(users, DAYS, seed, START, scenarios=True))
    wall = time.perf_counter() - began
    print(f"  load: {inserted:,} events in {wall:.0f} s", flush=True)
    with db.admin() as session:
        session.execute("ANALYZE audit_events")
    # The rollups first, alone (no compression yet: AUDITLENS_COMPRESS_AFTER_DAYS far away),
    # as ingest would have rolled the events up while they were new.
    previous = os.environ.get("AUDITLENS_COMPRESS_AFTER_DAYS")
    os.environ["AUDITLENS_COMPRESS_AFTER_DAYS"] = "36500"
    try:
        stats = ReadModel(db).refresh()
    finally:
        if previous is None:
            os.environ.pop("AUDITLENS_COMPRESS_AFTER_DAYS")
        else:
            os.environ["AUDITLENS_COMPRESS_AFTER_DAYS"] = previous
    print(f"  rollup refresh: {stats.events:,} events in {stats.seconds:.0f} s", flush=True)
    with db.admin() as session:
        session.execute("ANALYZE")
    return db, wall


def compress(db: Database) -> None:
    """Compress the TimescaleDB copy's old chunks as AuditLens does after a refresh."""
    began = time.perf_counter()
    chunks = compress_old_chunks(db)
    if chunks:
        print(f"  compression: {chunks} chunks in {time.perf_counter() - began:.0f} s")
        with db.admin() as session:
            session.execute("ANALYZE audit_events")


def ingest_span(db: Database) -> float:
    """Seconds from the first ingest transaction to the last (received_at is the server's)."""
    with db.admin() as session:
        return float(
            session.scalar(
                "SELECT extract(epoch FROM max(received_at) - min(received_at))"
                " FROM audit_events WHERE NOT own_use"
            )
            or 0.0
        )


def sizes(db: Database) -> Sizes:
    with db.admin() as s:
        rollups = int(
            s.scalar(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
                " AND c.relname LIKE 'rollup\\_%'"
            )
        )
        if not db.capabilities.hypertables:
            table, indexes = s.execute(
                "SELECT sum(pg_table_size(relid)), sum(pg_indexes_size(relid))"
                " FROM pg_partition_tree('audit_events') WHERE isleaf"
            ).rows[0]
            return Sizes(int(table), int(indexes), rollups, 0)
        table, toast, indexes = s.execute(
            "SELECT table_bytes, toast_bytes, index_bytes"
            " FROM hypertable_detailed_size('audit_events')"
        ).rows[0]
        aggregates = int(
            s.scalar(
                "SELECT coalesce(sum(hypertable_size(format('%I.%I',"
                " materialization_hypertable_schema, materialization_hypertable_name))), 0)"
                " FROM timescaledb_information.continuous_aggregates"
            )
        )
        before, after = s.execute(
            "SELECT sum(before_compression_total_bytes), sum(after_compression_total_bytes)"
            " FROM hypertable_compression_stats('audit_events')"
        ).rows[0]
        return Sizes(
            int(table) + int(toast),
            int(indexes),
            rollups,
            aggregates,
            int(before) if before is not None else None,
            int(after) if after is not None else None,
        )


def _mib(n: int) -> str:
    return f"{n / MIB:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, help="about this many (sets --users; 10M: 6242)")
    parser.add_argument("--users", type=int, help="default: 6242, ~10M events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=15, help="timings per read and storage")
    parser.add_argument(
        "--copy",
        action="store_true",
        help="load an empty TimescaleDB copy from the PostgreSQL one's events (COPY) rather"
        " than simulating them again: faster; its load time then leaves out the simulator",
    )
    args = parser.parse_args()
    if args.users is None:
        events = args.events or 10_000_000
        args.users = max(1, round(events / (DAYS * EVENTS_PER_USER_DAY)))
    if args.users <= 0 or args.repeat <= 0:
        parser.error("--users and --repeat must be positive")
    server_url = os.environ.get(DATABASE_URL_ENV)
    if not server_url:
        raise SystemExit(f"{DATABASE_URL_ENV}: a superuser URL of a server preloading TimescaleDB")

    dbs: dict[str, Database] = {}
    walls: dict[str, float | None] = {}
    for storage in STORAGES:
        source = dbs.get("PostgreSQL") if args.copy else None
        dbs[storage], walls[storage] = prepare(
            server_url, storage, args.users, args.seed, source=source
        )
    compress(dbs["TimescaleDB"])
    try:
        report(dbs, walls, args)
    finally:
        for db in dbs.values():
            db.close()


def report(dbs: dict[str, Database], walls: dict[str, float | None], args) -> None:
    plain, tsdb = dbs["PostgreSQL"], dbs["TimescaleDB"]
    for storage, db in dbs.items():
        print(f"{storage}: {db.capabilities.describe()}")
    print()
    print(f"{'':34} {'PostgreSQL':>12} {'TimescaleDB':>12} {'TS / PG':>8}")

    def line(label: str, a: float, b: float, unit: str = "") -> None:
        ratio = f"{b / a:7.2f}x" if a else "       -"
        print(f"{label:34} {a:>12,.0f} {b:>12,.0f} {ratio}{unit}")

    events = {}
    for storage, db in dbs.items():
        with db.admin() as s:
            events[storage] = int(s.scalar("SELECT count(*) FROM audit_events WHERE NOT own_use"))
    line("events", events["PostgreSQL"], events["TimescaleDB"])
    spans = ingest_span(plain), ingest_span(tsdb)
    if min(spans) > 0:  # one copy in one transaction has no span (--copy)
        line("load: ingest span (s)", *spans)
    if all(walls.values()):
        line("load: wall time this run (s)", walls["PostgreSQL"] or 0, walls["TimescaleDB"] or 0)
    a, b = sizes(plain), sizes(tsdb)
    line("size MiB: events (heap, TOAST)", a.table / MIB, b.table / MIB)
    line("size MiB: events' indexes", a.indexes / MIB, b.indexes / MIB)
    line("size MiB: rollups", a.rollups / MIB, b.rollups / MIB)
    line("size MiB: continuous aggregates", a.aggregates / MIB, b.aggregates / MIB)
    line("size MiB: total stored", a.total / MIB, b.total / MIB, "  goal <= 0.33x")
    if b.before_compression and b.after_compression:
        print(
            f"compression (TimescaleDB): {_mib(b.before_compression)} MiB of chunks before,"
            f" {_mib(b.after_compression)} MiB after: ratio"
            f" {b.before_compression / b.after_compression:.1f}:1"
        )
    print()

    reads = {storage: dashboard_reads(db, ReadModel(db), DAYS) for storage, db in dbs.items()}
    print(f"load average before the reads: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'read (median ms, p95 ms)':38} {'PostgreSQL':>17} {'TimescaleDB':>17} {'TS / PG':>8}")
    missed = 0
    for index, (label, *_) in enumerate(reads["PostgreSQL"]):
        fns = {storage: reads[storage][index][1] for storage in dbs}
        times: dict[str, list[float]] = {storage: [] for storage in dbs}
        for fn in fns.values():
            fn()  # warm caches and plans, as an open dashboard would have
        # Alternately, each going first every other round, so that the machine's load (it is
        # shared) and whatever the previous read left in the caches fall on both alike.
        for round_ in range(args.repeat):
            for storage, fn in list(fns.items())[:: 1 if round_ % 2 == 0 else -1]:
                began = time.perf_counter()
                fn()
                times[storage].append((time.perf_counter() - began) * 1000)
        med = {storage: statistics.median(t) for storage, t in times.items()}
        p95 = {storage: _percentile(t, 0.95) for storage, t in times.items()}
        ratio = med["TimescaleDB"] / med["PostgreSQL"]
        missed += ratio > 1.0
        cells = " ".join(f"{med[s]:8.1f} {p95[s]:8.1f}" for s in dbs)
        print(f"{label:38} {cells} {ratio:7.2f}x  {'ok' if ratio <= 1.0 else 'slower'}")
    print(f"load average after the reads: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"goal: every read at most 1.0x ({missed} slower), total stored at most 0.33x"
        f" ({b.total / a.total:.2f}x)"
    )


if __name__ == "__main__":
    main()
