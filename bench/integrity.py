"""Sealing and verifying speed, in events per second, against hashing the same bytes alone.

    PYTHONPATH=. .venv/bin/python bench/integrity.py [--events 200000]

Starts a throwaway PostgreSQL (or uses AUDITLENS_TEST_DATABASE_URL, a superuser URL, making
and dropping its own database), stores N events of one organisation, then times:
- seal:     `seal_organization` over all of them (canonical bytes, leaf hashes, Merkle root,
            signature, stored leaf index);
- verify:   `verify_organization` recomputing everything from the stored rows;
- baselines, measured in the same run over the same rows:
  hashlib   hashlib.sha256 over the same canonical bytes, already in memory (no database);
  copy-out  COPY (binary) of the 16 sealed fields of the same rows to this process: the cost
            of merely reading the events out of PostgreSQL, which sealing cannot beat.
The goal is >= 200,000 events/s for seal and verify on the project machine (2 cores). Rates
on a shared machine move with the load average (printed); the ratios move much less. With the
throwaway server it also counts the CPU seconds each phase cost (this process plus every
server process, read from the postmaster's reaped-children times after closing the pool):
events per CPU-second does not depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

# Run as a script, bench/ is first on sys.path and bench/ingest.py would shadow the package.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from integrity import keys as keymod  # noqa: E402
from integrity.canonical import FIELDS, apply_sql_settings, record_sql  # noqa: E402
from integrity.seal import seal_organization  # noqa: E402
from integrity.seal_formats import SEAL_FORMAT  # noqa: E402
from integrity.verify import verify_organization  # noqa: E402
from sql.embedded import EmbeddedPostgres  # noqa: E402
from sql.event_store import insert_events  # noqa: E402
from sql.gateway import Database  # noqa: E402
from sql.migrate import migrate  # noqa: E402
from sql.settings import Settings  # noqa: E402
from sql.vocabulary import EVENT_COLUMNS  # noqa: E402

GOAL = 200_000


def _server_cpu(server: EmbeddedPostgres | None) -> float | None:
    """CPU seconds of the server's postmaster and every child it has reaped (backends that
    closed, parallel workers), or None for an external server."""
    if server is None:
        return None
    pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class _CpuMeter:
    """CPU seconds spent by this process and the server between start() and stop()."""

    def __init__(self, db: Database, server: EmbeddedPostgres | None) -> None:
        self.db, self.server = db, server
        self.seconds: float | None = None

    def _quiesce(self) -> None:
        """Close the pool and wait until its backends have exited (and been reaped)."""
        self.db.engine.dispose()
        for _ in range(500):
            with self.db.engine.connect() as conn:
                others = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                    " AND backend_type IN ('client backend', 'parallel worker')"
                ).scalar()
            self.db.engine.dispose()
            if not others:
                break
            time.sleep(0.01)
        time.sleep(0.05)  # the last closed connection's backend, reaped just after

    def start(self) -> None:
        self._quiesce()
        self._server0 = _server_cpu(self.server)
        self._own0 = time.process_time()

    def stop(self) -> None:
        own = time.process_time() - self._own0
        self._quiesce()
        server1 = _server_cpu(self.server)
        if server1 is not None and self._server0 is not None:
            self.seconds = own + server1 - self._server0


def _rows(n: int) -> list[tuple[object, ...]]:
    start = datetime.now(UTC) - timedelta(days=20)
    actions = ["search", "view_logs", "export_logs", "download"]
    out = []
    for i in range(n):
        values = {
            "organization_id": "org_bench",
            "id": f"evt_{i:09d}",
            "event_time": start + timedelta(seconds=i * 3),
            "event_type": "log_access",
            "event_action": actions[i % 4],
            "user_id": f"user_{i % 97}",
            "user_email": f"user{i % 97}@company.com",
            "ip_address": f"10.0.{i % 200}.{i % 250}",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "resource_type": "source",
            "resource_id": f"source_{i % 31}",
            "details": {"query": f"level:error AND user_id:{i}", "results_count": i % 1000},
            "session_id": f"sess_{i // 50}",
        }
        out.append(tuple(values[c] for c in EVENT_COLUMNS))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()

    external = os.environ.get("AUDITLENS_TEST_DATABASE_URL")
    server = None
    data_dir = None
    if external:
        admin_url = external
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="auditlens-bench-pg-"))
        data_dir.chmod(0o755)
        server = EmbeddedPostgres(data_dir, fast_unsafe=True)
        admin_url = server.start().replace("/auditlens?", "/postgres?")
    name = f"auditlens_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=None, data_dir=Path(tempfile.gettempdir()))
    db = Database(url, settings)
    try:
        migrate(db)
        rows = _rows(args.events)
        for i in range(0, len(rows), 20_000):
            with db.writer() as w:
                insert_events(w, rows[i : i + 20_000])
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE audit_events"
            )
        key = keymod.generate()
        trusted = keymod.PublicKeys({key.key_id: key.public})
        n = args.events

        seal_cpu, verify_cpu = _CpuMeter(db, server), _CpuMeter(db, server)
        seal_cpu.start()
        t = time.perf_counter()
        seal = seal_organization(db, "org_bench", key)
        seal_s = time.perf_counter() - t
        seal_cpu.stop()
        assert seal.event_count == n

        verify_cpu.start()
        t = time.perf_counter()
        report = verify_organization(db, "org_bench", trusted, record=False)
        verify_s = time.perf_counter() - t
        verify_cpu.stop()
        assert report.clean and report.events_checked == n, report.problems[:3]

        with db.admin() as s:
            apply_sql_settings(s)
            blobs = [
                bytes(r[0])
                for r in s.execute(
                    f"SELECT {record_sql('e')} FROM audit_events e", max_rows=n + 1
                ).rows
            ]
        sha = hashlib.sha256
        t = time.perf_counter()
        for blob in blobs:
            sha(b"\x00" + blob).digest()
        base_s = time.perf_counter() - t

        columns = ", ".join(FIELDS)
        t = time.perf_counter()
        copied = 0
        with db.raw_connection() as raw, raw.cursor() as cur:
            statement = f"COPY (SELECT {columns} FROM audit_events) TO STDOUT (FORMAT binary)"
            with cur.copy(statement) as copy:
                for data in copy:
                    copied += len(data)
            raw.rollback()
        copy_s = time.perf_counter() - t

        seal_rate, verify_rate = n / seal_s, n / verify_s
        base_rate, copy_rate = n / base_s, n / copy_s
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"events: {n:,}  (seal format {SEAL_FORMAT}; canonical bytes:"
            f" {sum(map(len, blobs)) / n:.0f} per event)"
        )
        print(f"machine: {os.cpu_count()} cores, load average {load} (shared machines skew rates;")
        print("         the ratios to the baselines of the same run are steadier)")
        print(f"seal:     {seal_s:7.3f} s  {seal_rate:12,.0f} events/s")
        print(f"verify:   {verify_s:7.3f} s  {verify_rate:12,.0f} events/s")
        print(f"hashlib:  {base_s:7.3f} s  {base_rate:12,.0f} events/s (baseline: hashing alone)")
        print(
            f"copy-out: {copy_s:7.3f} s  {copy_rate:12,.0f} events/s (baseline: binary COPY of"
            f" the rows, {copied / n:.0f} bytes each)"
        )
        print(f"ratio seal/hashlib:    {seal_rate / base_rate:.3f}")
        print(f"ratio verify/hashlib:  {verify_rate / base_rate:.3f}")
        print(f"ratio seal/copy-out:   {seal_rate / copy_rate:.3f}")
        print(f"ratio verify/copy-out: {verify_rate / copy_rate:.3f}")
        cores = os.cpu_count() or 1
        for label, meter in (("seal", seal_cpu), ("verify", verify_cpu)):
            if meter.seconds:
                per_cpu = n / meter.seconds
                print(
                    f"{label} CPU:  {meter.seconds:7.3f} s  {per_cpu:12,.0f} events per CPU-second"
                    f" (bound on {cores} idle cores: {per_cpu * cores:,.0f} events/s)"
                )
        for label, rate in (("seal", seal_rate), ("verify", verify_rate)):
            verdict = "MET" if rate >= GOAL else "NOT MET"
            print(f"target {GOAL:,} events/s for {label}: {verdict} ({rate / GOAL:.2f}x)")
    finally:
        db.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()
            shutil.rmtree(data_dir or "", ignore_errors=True)


if __name__ == "__main__":
    main()
