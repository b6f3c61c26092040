"""Benchmark of Explore and exports: keyset paging against OFFSET paging, filtered counts,
timeline and event detail, and export throughput against a bare stream of the same rows.

    PYTHONPATH=. .venv/bin/python bench/explore.py --events 500000   # a quick run
    PYTHONPATH=. .venv/bin/python bench/explore.py                   # 10M events

Loads events with bench/queries.py's generator into a database of its own (on
AUDITLENS_DATABASE_URL's server when set, else a throwaway embedded server), then prints
median and p95 in ms per query and the ratios against the baselines measured in the
same run.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.queries import ORG, _percentile, _server_url, _time, load
from dashboard import explore_queries as q
from sql.event_filter import EventFilter
from sql.gateway import Database
from sql.migrate import migrate
from sql.settings import Settings
from usecases.exports import Exporter, export_events


class _Sink(io.RawIOBase):
    """Counts bytes and keeps none (the export's cost without the disk's)."""

    size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.size += len(data)
        return len(data)


def _report(name: str, times: list[float]) -> float:
    median = _percentile(times, 0.5)
    print(f"{name:<44} median {median:8.1f} ms   p95 {_percentile(times, 0.95):8.1f} ms")
    return median


def run(db: Database, repeat: int) -> None:
    sample = db.org_session(ORG)
    with sample as s:
        user = s.scalar("SELECT user_id FROM org_audit_events LIMIT 1")
        event_id = s.scalar("SELECT id FROM org_audit_events LIMIT 1")
    everything = EventFilter()
    by_user = EventFilter(users=(str(user),))
    text = EventFilter(texts=("error",), families=("log_access",))
    for name, flt in (("all events", everything), (f"user:{user}", by_user), ("text", text)):
        _report(
            f"count (capped) {name}", _time(lambda f=flt: q.count_events(db, ORG, f), repeat)[0]
        )
        _report(f"first page {name}", _time(lambda f=flt: q.page_events(db, ORG, f), repeat)[0])
    # Page 20 by keyset against the same page by OFFSET.
    cursor = None
    for _ in range(19):
        cursor = q.last_cursor(q.page_events(db, ORG, everything, after=cursor))
    keyset = _report(
        "page 20, keyset",
        _time(lambda: q.page_events(db, ORG, everything, after=cursor), repeat)[0],
    )

    def offset_page() -> Any:
        with db.org_session(ORG) as s:
            return s.execute(
                "SELECT id FROM org_audit_events ORDER BY event_time DESC, ingest_seq DESC"
                " LIMIT 50 OFFSET 950"
            ).rows

    offset = _report("page 20, OFFSET (baseline)", _time(offset_page, repeat)[0])
    print(f"  keyset is {offset / keyset:.1f}x faster than OFFSET at page 20")
    span = q.data_span(db, ORG, by_user)
    assert span is not None, "the benchmark organisation has events"
    bins = q.bins_for(*span)
    _report(
        "timeline user (raw, bucketed)",
        _time(lambda: q.timeline(db, ORG, by_user, bins), repeat)[0],
    )
    _report("event detail", _time(lambda: q.event_detail(db, ORG, str(event_id)), repeat)[0])

    # Export of everything against a bare server-side stream of the same rows.
    sink = _Sink()
    started = time.perf_counter()
    result = export_events(db, ORG, everything, "csv", sink, exporter=Exporter(user_id="bench"))
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = 0
    with db.org_session(ORG, timeout_ms=600_000) as s:
        for _cols, batch in s.stream(
            "SELECT * FROM org_audit_events ORDER BY event_time, ingest_seq"
        ):
            rows += len(batch)
    stream_s = time.perf_counter() - started
    print(
        f"export csv: {result.rows:,} rows, {sink.size / 1e6:,.1f} MB in {export_s:.1f} s "
        f"({result.rows / export_s:,.0f} rows/s); bare stream {rows / stream_s:,.0f} rows/s; "
        f"export costs {export_s / stream_s:.1f}x the bare stream"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--data-dir", help="embedded server folder (default: a temp folder)")
    args = parser.parse_args()
    server_url, embedded = _server_url(args)
    name = f"auditlens_bench_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://"))
    maintenance = admin_url.set(database="postgres").render_as_string(hide_password=False)
    maintenance = maintenance.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    db = Database(url, Settings(database_url=url, data_dir=Path(tempfile.gettempdir())))
    try:
        migrate(db)
        print(f"server: {db.capabilities.describe()}; loading {args.events:,} events ...")
        load(db, args.events, args.users, args.days, args.chunk)
        run(db, args.repeat)
    finally:
        db.close()
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
