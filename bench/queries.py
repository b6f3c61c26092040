"""Benchmark of the dashboard's query set: read model (rollups + raw past the watermark)
against the same answer computed straight from raw events, in the same run.

    PYTHONPATH=. .venv/bin/python bench/queries.py                  # 10M events, 2,000 users
    PYTHONPATH=. .venv/bin/python bench/queries.py --events 500000  # a quick run

It loads simulated events with SQL (generate_series) into a database of its own (on
AUDITLENS_DATABASE_URL's server when set, else on a throwaway embedded server), times a full
refresh (events per second), then every query `--repeat` times through the read model and a
few times from raw events, and prints median and p95 (ms), the ratio raw/read-model, and the
disk size of the rollups relative to the raw events. Targets (issue 4, plain PostgreSQL):
overview, timeline, heatmap and top-N at most 150 ms median and at least 20x faster than raw;
the user-day page at most 50 ms; the quarter report at most 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from sql.embedded import EmbeddedPostgres
from sql.gateway import Database
from sql.migrate import migrate
from sql.read_model import ReadModel
from sql.settings import Settings

ORG = "org_bench"
END = datetime(2025, 4, 1, tzinfo=UTC)  # the 90 days end here (UTC midnight)
RAW_TIMEOUT_MS = 600_000
BENCH_SETTINGS = {"shared_buffers": "1GB", "work_mem": "32MB", "max_wal_size": "4GB"}

# One generated chunk of events: a skewed user population (a few heavy users), families and
# actions in realistic shares, 300 sources, working-hours-heavy times, 1-3 IPs per user.
_GENERATE = """
INSERT INTO audit_events (organization_id, id, event_time, event_type, event_action, user_id,
  user_email, ip_address, user_agent, resource_type, resource_id, details, session_id,
  retention_guaranteed_until)
SELECT %(org)s, 'b' || g, t, fam,
       CASE fam
         WHEN 'log_access' THEN (ARRAY['search','search','search','view_logs','view_logs',
                                       'view_entry','download','export','api_access']
                                )[1 + floor(r4 * 9)::int]
         WHEN 'login' THEN (ARRAY['login','login','logout','login_failed'])[1 + floor(r4 * 4)::int]
         WHEN 'config_change' THEN (ARRAY['update_alert','disable_alert','create_alert',
                                          'update_retention_policy'])[1 + floor(r4 * 4)::int]
         WHEN 'user_management' THEN (ARRAY['invite_user','change_role','create_api_key',
                                            'revoke_api_key'])[1 + floor(r4 * 4)::int]
         WHEN 'data_modification' THEN (ARRAY['delete_logs','manual_purge','export_data']
                                       )[1 + floor(r4 * 3)::int]
         ELSE (ARRAY['GET','POST'])[1 + floor(r4 * 2)::int]
       END,
       'user_' || u, 'user_' || u || '@corp.example',
       ('10.' || (u %% 250) || '.' || (u / 250) || '.' || (1 + floor(r5 * 3)::int))::inet,
       (ARRAY['Mozilla/5.0 (Macintosh)','Mozilla/5.0 (Windows NT 10.0)','curl/8.4']
       )[1 + floor(r5 * 3)::int],
       'source', 'src_' || floor(300 * power(r6, 2))::int,
       jsonb_build_object('query', 'level:error AND service:checkout',
                          'results_count', floor(r4 * 500)::int, 'records', floor(r5 * 2000)::int),
       'sess_' || u || '_' || (g / 30),
       t + INTERVAL '400 days'
FROM (
  SELECT g, floor(%(users)s * power(random(), 2))::int AS u,
         %(t0)s + (random() * %(span)s) * INTERVAL '1 day' AS t,
         CASE WHEN r3 < 0.70 THEN 'log_access' WHEN r3 < 0.80 THEN 'login'
              WHEN r3 < 0.88 THEN 'api_call' WHEN r3 < 0.93 THEN 'config_change'
              WHEN r3 < 0.97 THEN 'user_management' ELSE 'data_modification' END AS fam,
         r4, r5, r6
    FROM (SELECT g, random() AS r3, random() AS r4, random() AS r5, random() AS r6
            FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS g) x
) s
ORDER BY t
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _time(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def _server_url(args: argparse.Namespace) -> tuple[str, EmbeddedPostgres | None]:
    url = os.environ.get("AUDITLENS_DATABASE_URL")
    if url:
        return url, None
    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="auditlens-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder, fast_unsafe=True)
    url = server.start()
    # The embedded defaults (128 MB shared buffers) suit a laptop demo, not 10M events.
    with psycopg.connect(url, autocommit=True) as conn:
        for setting, value in BENCH_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {setting} = '{value}'")  # type: ignore[arg-type]
    server.stop()
    url = server.start()
    print(f"embedded server settings: {BENCH_SETTINGS}")
    return url, server


def _generate(
    conn: psycopg.Connection[Any], users: int, t0: datetime, span_days: float, lo: int, hi: int
) -> None:
    conn.execute(
        _GENERATE,  # type: ignore[arg-type]
        {"org": ORG, "users": users, "t0": t0, "span": span_days, "lo": lo, "hi": hi},
    )
    conn.commit()


def load(db: Database, events: int, users: int, days: int, chunk: int) -> float:
    """Insert `events` generated events in time order, a few days per transaction (as a
    stream of ingest batches would arrive); returns seconds."""
    started = time.perf_counter()
    months = []
    day = (END - timedelta(days=days + 1)).date().replace(day=1)
    while day <= END.date():
        months.append(datetime(day.year, day.month, 1, tzinfo=UTC))
        day = (day + timedelta(days=32)).replace(day=1)
    with db.raw_connection() as conn:
        conn.execute("SELECT audit_ensure_partitions(%s)", (months,))
        conn.execute(
            "INSERT INTO organizations (organization_id, time_zone, work_start_hour, work_end_hour)"
            " VALUES (%s, 'Europe/Berlin', 8, 18) ON CONFLICT DO NOTHING",
            (ORG,),
        )
        conn.commit()
        per_chunk = max(1, round(days * chunk / events))
        first = END - timedelta(days=days)
        for day0 in range(0, days, per_chunk):
            day1 = min(days, day0 + per_chunk)
            lo, hi = events * day0 // days, events * day1 // days
            _generate(conn, users, first + timedelta(days=day0), day1 - day0, lo, hi)
            print(f"  loaded {hi:,} / {events:,} events", file=sys.stderr, flush=True)
        conn.execute("ANALYZE audit_events")
        conn.commit()
    return time.perf_counter() - started


def raw_session(db: Database, sql: str, params: dict[str, Any]) -> Any:
    with db.org_session(ORG, timeout_ms=RAW_TIMEOUT_MS, max_rows=5_000_000) as session:
        return session.execute(sql, params, max_rows=5_000_000).frame()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=15, help="timings per read-model query")
    parser.add_argument("--raw-repeat", type=int, default=3, help="timings per raw query")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="events per transaction")
    parser.add_argument("--data-dir", help="embedded server folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if args.events <= 0 or args.users <= 0 or args.days <= 0:
        parser.error("--events, --users and --days must be positive")

    server_url, embedded = _server_url(args)
    name = f"auditlens_bench_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://"))
    maintenance = admin_url.set(database="postgres").render_as_string(hide_password=False)
    maintenance = maintenance.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url, data_dir=Path(tempfile.gettempdir()))
    db = Database(url, settings)
    try:
        migrate(db)
        caps = db.capabilities
        print(f"server: {caps.describe()}")
        print(f"loading {args.events:,} events, {args.users:,} users, {args.days} days ...")
        load_s = load(db, args.events, args.users, args.days, args.chunk)
        print(f"load: {load_s:.1f} s ({args.events / load_s:,.0f} events/s, SQL generate_series)")
        run(db, args)
    finally:
        db.close()
        if not args.keep:
            with psycopg.connect(maintenance, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None and not args.keep:
            embedded.stop()


def run(db: Database, args: argparse.Namespace) -> None:
    model = ReadModel(db)
    stats = model.refresh()
    print(
        f"refresh (all {stats.events:,} events): {stats.seconds:.1f} s, "
        f"{stats.events_per_second:,.0f} events/s"
    )
    with db.admin() as session:
        session.execute("ANALYZE")
    # A small incremental refresh as ingest would trigger it after a batch.
    last_day = END - timedelta(days=1)
    with db.raw_connection() as conn:
        _generate(conn, args.users, last_day, 1, args.events, args.events + 10_000)
    small = model.refresh()
    print(
        f"incremental refresh of {small.events:,} new events: {small.seconds * 1000:.0f} ms "
        f"({small.events_per_second:,.0f} events/s)"
    )
    # ...and 1,000 more that stay past the watermark, so every read also unions raw events.
    with db.raw_connection() as conn:
        _generate(conn, args.users, last_day, 1, args.events + 10_000, args.events + 11_000)

    start = END - timedelta(days=args.days)
    end = END
    heavy_user = "user_0"  # the skew makes user_0 the most active
    day = (END - timedelta(days=10)).date()
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    q_start = date(2025, 1, 1)
    q_end = date(2025, 3, 31)
    resource = ("source", "src_0")

    def heatmap_model() -> Any:
        frame = model.user_activity(ORG, start, end, user_id=heavy_user)
        frame["weekday"] = frame["bucket"].dt.day_of_week
        frame["hour"] = frame["bucket"].dt.hour
        return frame.pivot_table(index="weekday", columns="hour", values="events", aggfunc="sum")

    def heatmap_raw() -> Any:
        return raw_session(
            db,
            "SELECT extract(isodow FROM event_time AT TIME ZONE 'UTC') AS weekday,"
            " extract(hour FROM event_time AT TIME ZONE 'UTC') AS hour, count(*) AS events"
            " FROM org_audit_events WHERE user_id = :u AND event_time >= :s AND event_time < :e"
            " GROUP BY 1, 2",
            {"u": heavy_user, "s": start, "e": end},
        )

    def quarter_raw() -> Any:
        # Every matching event (as the compliance report lists them), grouped by user.
        frame = raw_session(
            db,
            "SELECT user_id, user_email, event_time, event_action, ip_address::text AS ip"
            " FROM org_audit_events WHERE resource_type = :rt AND resource_id = :rid"
            " AND event_time >= :s AND event_time < :e",
            {
                "rt": resource[0],
                "rid": resource[1],
                "s": datetime(2025, 1, 1, tzinfo=UTC),
                "e": datetime(2025, 4, 1, tzinfo=UTC),
            },
        )
        return frame.groupby("user_id").agg(
            events=("event_time", "size"), first=("event_time", "min"), last=("event_time", "max")
        )

    def quarter_model() -> Any:
        return model.resource_users(ORG, q_start, q_end, resource[0], resource[1])

    def user_day_page() -> Any:
        return raw_session(
            db,
            "SELECT * FROM org_audit_events WHERE user_id = :u AND event_time >= :s"
            " AND event_time < :e ORDER BY event_time DESC LIMIT 100",
            {"u": heavy_user, "s": day_start, "e": day_start + timedelta(days=1)},
        )

    queries: list[tuple[str, Callable[[], Any], Callable[[], Any] | None, float]] = [
        (
            "overview totals (90 d)",
            lambda: model.totals(ORG, start, end),
            lambda: raw_session(
                db,
                "SELECT event_type, count(*), (SELECT count(DISTINCT user_id) FROM org_audit_events"
                " WHERE event_time >= :s AND event_time < :e),"
                " (SELECT count(DISTINCT (resource_type, resource_id)) FROM org_audit_events"
                " WHERE event_time >= :s AND event_time < :e AND resource_id IS NOT NULL)"
                " FROM org_audit_events WHERE event_time >= :s AND event_time < :e GROUP BY 1",
                {"s": start, "e": end},
            ),
            150,
        ),
        (
            "timeline 90 d by day",
            lambda: model.timeline(ORG, start, end, bucket="day"),
            lambda: raw_session(
                db,
                "SELECT date_trunc('day', event_time, 'UTC'), event_type, event_action, count(*)"
                " FROM org_audit_events WHERE event_time >= :s AND event_time < :e"
                " GROUP BY 1, 2, 3",
                {"s": start, "e": end},
            ),
            150,
        ),
        (
            "timeline 90 d by hour",
            lambda: model.timeline(ORG, start, end, bucket="hour"),
            lambda: raw_session(
                db,
                "SELECT date_trunc('hour', event_time, 'UTC'), event_type, event_action, count(*)"
                " FROM org_audit_events WHERE event_time >= :s AND event_time < :e"
                " GROUP BY 1, 2, 3",
                {"s": start, "e": end},
            ),
            150,
        ),
        ("heatmap of one user (90 d)", heatmap_model, heatmap_raw, 150),
        (
            "top 10 users (90 d)",
            lambda: model.top_users(ORG, start, end, n=10),
            lambda: raw_session(
                db,
                "SELECT user_id, max(user_email), count(*) FROM org_audit_events"
                " WHERE event_time >= :s AND event_time < :e GROUP BY 1 ORDER BY 3 DESC LIMIT 10",
                {"s": start, "e": end},
            ),
            150,
        ),
        (
            "top 10 resources (90 d)",
            lambda: model.top_resources(ORG, start, end, n=10),
            lambda: raw_session(
                db,
                "SELECT resource_type, resource_id, count(*), count(DISTINCT user_id)"
                " FROM org_audit_events WHERE event_time >= :s AND event_time < :e"
                " AND resource_id IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10",
                {"s": start, "e": end},
            ),
            150,
        ),
        ("100 raw events of one user-day", user_day_page, None, 50),
        ("quarter report: who accessed src_0", quarter_raw, None, 1000),
        ("  same question from the read model", quarter_model, quarter_raw, 1000),
    ]
    print()
    print(
        f"{'query':38} {'median ms':>10} {'p95 ms':>8} {'raw median ms':>14} {'ratio':>8}  target"
    )
    for label, fast, raw, target in queries:
        fast()  # warm caches and plans, as a dashboard that is already open would have
        times, _ = _time(fast, args.repeat)
        med, p95 = statistics.median(times), _percentile(times, 0.95)
        if raw is not None:
            raw_times, _ = _time(raw, args.raw_repeat)
            raw_med = statistics.median(raw_times)
            ratio = f"{raw_med / med:7.1f}x"
            raw_text = f"{raw_med:14.0f}"
        else:
            ratio, raw_text = "    raw", f"{'(is raw)':>14}"
        ok = "ok" if med <= target else "MISSED"
        print(f"{label:38} {med:10.1f} {p95:8.1f} {raw_text} {ratio}  <= {target} ms {ok}")

    with db.admin() as session:
        raw_bytes = session.scalar(
            "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('audit_events')"
        )
        if caps_hypertable(db):
            raw_bytes = session.scalar("SELECT hypertable_size('audit_events')")
        rollup_bytes = session.scalar(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " WHERE c.relkind = 'r' AND c.relname LIKE 'rollup\\_%'"
        )
    print()
    print(
        f"disk: raw events {raw_bytes / 2**20:,.0f} MiB, rollups {rollup_bytes / 2**20:,.0f} MiB "
        f"({100 * rollup_bytes / raw_bytes:.1f}% of raw)"
    )


def caps_hypertable(db: Database) -> bool:
    return db.capabilities.hypertables


if __name__ == "__main__":
    main()
