"""Dashboard speed: the query layer of every page on a large organisation, and one real
browser timing of the Overview page.

    python bench/dashboard.py --events 10000000     # the issue's goal: <= 1 s per interaction

Builds a throwaway database (AUDITLENS_DATABASE_URL if it points at a server where we may
create databases, else an embedded server in a temp folder), fills it with synthetic events
in SQL (fast: no Python per row), refreshes the rollups, then times each page's reads
(uncached: what the first viewer of a period waits for) against a baseline measured in the
same run: the same overview answered by scanning raw events. Prints seconds and ratios;
asserts nothing (tests never time things).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
# Run as a script (`python bench/dashboard.py`): the repository root holds the packages and
# the browser test's Chromium settings this reuses.
sys.path.insert(0, str(ROOT))

from dashboard import (  # noqa: E402
    config_changes,
    explore_queries,
    overview_queries,
    resource_queries,
    user_events,
    user_patterns,
    user_queries,
)
from dashboard.findings_view import ranked  # noqa: E402
from detection import findings  # noqa: E402
from detection.pipeline import run_detection  # noqa: E402
from integrity.status import integrity_status  # noqa: E402
from sql.embedded import EmbeddedPostgres  # noqa: E402
from sql.errors import AuditLensError  # noqa: E402
from sql.event_filter import EventFilter  # noqa: E402
from sql.gateway import Database  # noqa: E402
from sql.migrate import migrate  # noqa: E402
from sql.read_model import ReadModel  # noqa: E402
from sql.settings import Settings  # noqa: E402
from usecases import access_report  # noqa: E402


def _load_bench_queries() -> Any:
    """bench/queries.py (rollups): its realistic generator (skewed users and sources, working
    hours, several IPs per user) fills our database too, so both benchmarks see one data set."""
    spec = importlib.util.spec_from_file_location("bench_queries", ROOT / "bench" / "queries.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_queries = _load_bench_queries()

ORG = bench_queries.ORG
START = bench_queries.START
# The simulated users' ids are random: the busiest user and the busiest and a middling source
# are looked up once the data is there (see _pick_subjects).
HEAVY_USER = ""
HEAVY_EMAIL = ""
HEAVY_IP = ""
HOT_RESOURCE = ("source", "")
TYPICAL_RESOURCE = ("source", "")
END = datetime(START.year, START.month, START.day, tzinfo=UTC)  # set from --days in main()


def _server(data_dir: str | None) -> tuple[str, EmbeddedPostgres | None]:
    """A superuser URL to a maintenance database, and the embedded server if we started one."""
    url = os.environ.get("AUDITLENS_BENCH_DATABASE_URL")
    if url:
        return url, None
    folder = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="auditlens-bench-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder, fast_unsafe=True)
    url = server.start()
    # The embedded defaults (128 MB shared buffers) suit a demo; use bench/queries.py's.
    with psycopg.connect(url, autocommit=True) as conn:
        for setting, value in bench_queries.BENCH_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {setting} = '{value}'")  # type: ignore[arg-type]
    server.stop()
    return server.start().replace("/auditlens?", "/postgres?"), server


def _pick_subjects(db: Database, days: int) -> None:
    """The simulator's ids are random: time the busiest user, the busiest source and one in
    the middle of the sources' ranking (the subjects the pages are timed on)."""
    global HEAVY_USER, HEAVY_EMAIL, HEAVY_IP, HOT_RESOURCE, TYPICAL_RESOURCE
    rm = ReadModel(db)
    span = (END - timedelta(days=days), END)
    top = rm.top_users(ORG, *span, n=1)
    HEAVY_USER = str(top["user_id"].iloc[0])
    HEAVY_EMAIL = str(top["user_email"].iloc[0])
    ranked = rm.top_resources(ORG, *span, n=100)
    sources = ranked[ranked["resource_type"] == "source"]["resource_id"].tolist()
    HOT_RESOURCE = ("source", str(sources[0]))
    with db.admin() as session:  # the busiest user's usual address (an index range)
        HEAVY_IP = str(
            session.scalar(
                "SELECT host(ip_address) FROM audit_events WHERE organization_id = :org"
                " AND user_id = :u AND ip_address IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC"
                " LIMIT 1",
                {"org": ORG, "u": HEAVY_USER},
            )
        )
    TYPICAL_RESOURCE = ("source", str(sources[len(sources) // 2]))


def _timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds over `repeat` runs."""
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def _filled(db: Database) -> int:
    """Events of the benchmark organisation already in a kept database."""
    with db.admin(timeout_ms=3_600_000) as s:
        return int(
            s.scalar("SELECT count(*) FROM audit_events WHERE organization_id = :org", {"org": ORG})
            or 0
        )


def page_reads(db: Database, days: int) -> dict[str, Callable[[], Any]]:
    """One callable per page interaction, reading exactly what the page reads."""
    rm = ReadModel(db)
    week = (END - timedelta(days=7), END)
    month = (END - timedelta(days=30), END)
    last_day = (END - timedelta(days=1)).date()

    def overview(span: tuple[datetime, datetime], bucket: str) -> None:
        # The page's four reads run concurrently (overview_queries.prefetch_overview); here
        # uncached, what the first viewer of a period waits for.
        overview_queries.run_concurrently(
            [
                lambda: rm.totals(ORG, *span),
                lambda: rm.timeline(ORG, *span, bucket=bucket),
                lambda: rm.top_users(ORG, *span),
                lambda: resource_queries._busiest.__wrapped__(db.url, ORG, *span, 10, _db=db),
            ]
        )

    def overview_week() -> None:
        overview(week, "hour")
        findings.list_findings(db, ORG, limit=10)

    def overview_all() -> None:
        overview((END - timedelta(days=days), END), "day")

    def users_month() -> None:
        # What the Users page reads on opening: the active users, one user's heatmap, the
        # busiest 30 users' days and that user's baseline (dashboard/user_queries.py).
        active = rm.top_users(ORG, *month, n=200)
        cells = rm.user_heatmap(ORG, *month, HEAVY_USER, "Europe/Berlin")
        user_patterns.weekday_hour_matrix(cells)
        shown = [str(u) for u in active["user_id"].dropna().head(30)]
        daily = user_queries._daily_events.__wrapped__(  # uncached
            db.url, ORG, month[0].date(), last_day, tuple(sorted(shown)), _db=db
        )
        user_patterns.users_by_day(daily)
        features = user_queries._user_days.__wrapped__(
            db.url, ORG, HEAVY_USER, last_day - timedelta(days=28), last_day, _db=db
        )
        user_patterns.baseline_vs_day(features, HEAVY_USER, last_day, 28)

    def users_month_before() -> None:
        # The former Users page: every user's features over the period and baseline.
        rm.top_users(ORG, *month, n=200)
        cells = rm.user_heatmap(ORG, *month, HEAVY_USER, "Europe/Berlin")
        user_patterns.weekday_hour_matrix(cells)
        features = rm.user_day_features(ORG, month[0].date() - timedelta(days=28), last_day)
        user_patterns.users_by_day(features[features["day"] >= month[0].date()])
        user_patterns.baseline_vs_day(features, HEAVY_USER, last_day, 28)

    def explore(event_filter: EventFilter, pages: int) -> Callable[[], None]:
        def read() -> None:
            # Opening Explore: count, timeline, the first page; then Older, page after page.
            # As the page does, the timeline of over COUNT_CAP raw matches waits for a click.
            count, capped = explore_queries.count_events(db, ORG, event_filter)
            many = explore_queries.more_than_cap(count, capped)
            if explore_queries.timeline_is_cheap(event_filter, many):
                span = explore_queries.data_span(db, ORG, event_filter)
                if span is not None:
                    bins = explore_queries.bins_for(*span)
                    explore_queries.timeline(db, ORG, event_filter, bins)
            page = explore_queries.page_events(db, ORG, event_filter)
            for _ in range(pages - 1):
                page = explore_queries.page_events(
                    db, ORG, event_filter, after=explore_queries.last_cursor(page)
                )

        return read

    def explore_page_20(event_filter: EventFilter) -> Callable[[], None]:
        # One click on Older at page 19 (its cursor is kept in the session): one keyset read.
        page = explore_queries.page_events(db, ORG, event_filter)
        for _ in range(18):
            page = explore_queries.page_events(
                db, ORG, event_filter, after=explore_queries.last_cursor(page)
            )
        cursor = explore_queries.last_cursor(page)

        def read() -> None:
            explore_queries.page_events(db, ORG, event_filter, after=cursor)

        return read

    last_week = EventFilter(start=week[0], end=week[1])
    one_user = EventFilter.parse(f"user:{HEAVY_USER} family:log_access")
    # The issue's own example: a user by email (matches the user id or the email).
    by_email = EventFilter.parse(f"user:{HEAVY_EMAIL} family:log_access")
    # Text within details, the request's own example (the identity_search scenario plants a
    # few): matched through the search migration's trigram index where the server has it.
    searched_for = EventFilter(texts=("email:*@company.com",))

    def heatmap_drill() -> None:
        user_events.events_in_cells(
            db, ORG, HEAVY_USER, *month, "Europe/Berlin", [("Mon", 14), ("Tue", 2)]
        )

    def compliance_query(resource: tuple[str, str]) -> str:
        first = (END - timedelta(days=90)).date()
        return access_report.access_query(resource[1], resource[0], first, last_day)

    def compliance_quarter(resource: tuple[str, str]) -> Callable[[], None]:
        def read() -> None:
            query = compliance_query(resource)
            access_report.build_access_report(db, ORG, query, generated_by="bench")

        return read

    def compliance_printable(resource: tuple[str, str]) -> Callable[[], None]:
        # A download: the printable report's additions (read model) and its
        # first 5,000 events (an index-ordered raw read).
        report = access_report.build_access_report(
            db, ORG, compliance_query(resource), generated_by="bench"
        )

        def read() -> None:
            access_report.access_details(db, ORG, report)

        return read

    def anomalies_open() -> None:
        # The Anomalies page on opening: up to 500 findings of any status, ranked.
        ranked(findings.list_findings(db, ORG, limit=500))

    top = findings.list_findings(db, ORG, limit=1)
    evidence = EventFilter.parse(str(top["evidence_query"].iloc[0])) if len(top) else None

    def config_month() -> None:
        events, _ = config_changes.config_change_events(db, ORG, *month)
        config_changes.change_history(events)
        config_changes.never_reverted(events)

    reads: dict[str, Callable[[], Any]] = {
        "Overview, last 7 days": overview_week,
        f"Overview, all {days} days": overview_all,
        "Users, last 30 days": users_month,
        "Users, last 30 days (before: all users)": users_month_before,
        "Users heatmap drill-down": heatmap_drill,
        "Compliance, 90 days, busiest source": compliance_quarter(HOT_RESOURCE),
        "Compliance, 90 days, typical source": compliance_quarter(TYPICAL_RESOURCE),
        "(download) Compliance printable, busiest": compliance_printable(HOT_RESOURCE),
        "Config changes, 30 days": config_month,
        "Explore, everything: open": explore(EventFilter(), 1),
        "Explore, everything: page 20 (Older)": explore_page_20(EventFilter()),
        "Explore, last 7 days: open": explore(last_week, 1),
        "Explore, one user: open": explore(one_user, 1),
        "Explore, one user: page 20 (Older)": explore_page_20(one_user),
        "Explore, one user by email: open": explore(by_email, 1),
        "Explore, text in details (rare): open": explore(searched_for, 1),
        "Explore, action:export: open": explore(EventFilter.parse("action:export"), 1),
        "Explore, one IP address: open": explore(EventFilter.parse(f"ip:{HEAVY_IP}"), 1),
        "Explore, ip:10.0.0.0/8: open": explore(EventFilter.parse("ip:10.0.0.0/8"), 1),
        "Explore, busiest source: open": explore(
            EventFilter.parse(f"resource:{HOT_RESOURCE[1]}"), 1
        ),
        "Anomalies: open (findings ranked)": anomalies_open,
        # Never sealed here: every event is past the last seal (counted up to a cap).
        "Integrity: open": lambda: integrity_status(db, ORG),
    }
    if evidence is not None:
        # Selecting the top finding and following its evidence link opens Explore on it.
        reads["Anomalies: top finding's evidence in Explore"] = explore(evidence, 1)
    return reads


def detect_once(db: Database, days: int) -> None:
    """Findings for the Anomalies page: `auditlens detect` over the last 14 days, once (a kept
    database keeps them)."""
    if len(findings.list_findings(db, ORG, limit=1)):
        return
    last = (END - timedelta(days=1)).date()
    began = time.perf_counter()
    _, window, inserted = run_detection(
        db, ORG, start=last - timedelta(days=min(days, 14) - 1), end=last, actor="bench"
    )
    if window is None:
        print("detection: no complete day to score")
        return
    print(
        f"detection over {window[0]}..{window[1]}: {inserted:,} findings in"
        f" {time.perf_counter() - began:.1f} s"
    )


def raw_overview(db: Database) -> None:
    """Baseline: the week's overview answered from raw events, as a naive dashboard would."""
    with db.org_session(ORG, timeout_ms=600_000) as s:
        params = {"a": END - timedelta(days=7), "b": END}
        where = "event_time >= :a AND event_time < :b"
        s.execute(
            f"SELECT count(*), count(DISTINCT user_id), count(DISTINCT resource_id)"
            f" FROM org_audit_events WHERE {where}",
            params,
        )
        s.execute(
            f"SELECT date_trunc('hour', event_time), event_type, event_action, count(*)"
            f" FROM org_audit_events WHERE {where} GROUP BY 1, 2, 3",
            params,
        )
        s.execute(
            f"SELECT user_id, count(*) FROM org_audit_events WHERE {where}"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            params,
        )


def _choose_period(page: Any, label: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name=label, exact=True).click()


def browser_overview(url: str, db: Database) -> tuple[float, float]:
    """Seconds from picking "All time" on the Overview until its figures and three charts are
    drawn: the first time on this server (cold caches) and again (warm)."""
    from playwright.sync_api import sync_playwright

    from cli.run_command import streamlit_command
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.ports import free_port
    from usecases.accounts import add_user, generate_password, hash_password

    added = add_user(db, email="bench@company.com", org=ORG, role="admin", actor="bench")
    password = added.password
    if password is None:  # a kept database from an earlier run: the account exists already
        password = generate_password()
        with db.admin() as session:
            session.execute(
                "UPDATE dashboard_users SET password_hash = :hash WHERE email = :email",
                {"hash": hash_password(password), "email": added.email},
            )
    port = free_port()
    env = dict(os.environ, AUDITLENS_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    command = streamlit_command("127.0.0.1", port)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(120_000)
            for _ in range(600):
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except Exception:  # the server is still starting
                    time.sleep(0.2)
            page.get_by_role("textbox", name="Email").fill("bench@company.com")
            page.get_by_role("textbox", name="Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Overview").wait_for()
            # "Last 7 days" holds only the dashboard's own audit events (sign-in, page views):
            # the generated ones end at END. Their busiest source names the full view.
            page.locator(".js-plotly-plot").nth(2).wait_for()
            label = f"source:{HOT_RESOURCE[1]}"
            hot_source = page.locator(".js-plotly-plot").get_by_text(label).first
            # Cold: the first "All time" Overview of this server (nothing cached yet).
            began = time.perf_counter()
            _choose_period(page, "All time")
            hot_source.wait_for()
            cold = time.perf_counter() - began
            _choose_period(page, "Last 7 days")
            hot_source.wait_for(state="detached")
            # Warm: the same view again within the cache's minute.
            began = time.perf_counter()
            _choose_period(page, "All time")
            hot_source.wait_for()
            warm = time.perf_counter() - began
            browser.close()
            return cold, warm
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument(
        "--users", type=int, help="default: enough for --events, as bench/queries.py sizes it"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument(
        "--data-dir",
        help="embedded server folder to keep: the filled database is reused by later runs"
        " with the same --events/--days/--users (fill once, measure often)",
    )
    parser.add_argument(
        "--database",
        help="use (and keep) this database on the server (AUDITLENS_BENCH_DATABASE_URL's):"
        " a loaded copy made with CREATE DATABASE ... TEMPLATE, say",
    )
    args = parser.parse_args()
    if args.users is None:
        args.users = max(
            bench_queries.MIN_USERS,
            round(args.events / (args.days * bench_queries.EVENTS_PER_USER_DAY)),
        )
    global END
    END = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=args.days)

    admin_url, server = _server(args.data_dir)
    keep = bool(args.data_dir or args.database)
    if args.database:
        name = args.database
    elif keep:
        name = f"auditlens_bench_{args.events}_{args.days}_{args.users}"
    else:
        name = f"auditlens_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url, Settings(database_url=url, data_dir=Path(tempfile.gettempdir())))
    try:
        migrate(db)
        print(f"database: {db.capabilities.describe()} ({name})")
        filled = _filled(db)
        if filled == 0:
            began = time.perf_counter()
            sim = bench_queries.simulation(args.users, args.days, 1, START, scenarios=True)
            filled = bench_queries.load(db, sim, quiet=True)
            with db.admin(timeout_ms=3_600_000) as s:
                s.execute("ANALYZE audit_events")
            print(f"fill: {filled:,} events in {time.perf_counter() - began:.1f} s")
        else:
            print(f"reusing the kept database: {filled:,} events already there")
        began = time.perf_counter()
        ReadModel(db).refresh()
        print(f"rollup refresh: {time.perf_counter() - began:.1f} s")
        _pick_subjects(db, args.days)
        detect_once(db, args.days)
        print(
            f"busiest user {HEAVY_USER} ({HEAVY_EMAIL}); busiest source {HOT_RESOURCE[1]};"
            f" a middling source {TYPICAL_RESOURCE[1]}"
        )

        baseline = _timed(lambda: raw_overview(db), 1)
        print(f"\nbaseline (week overview from raw events): {baseline:.3f} s")
        print(f"{'page interaction':44} {'seconds':>8} {'vs 1 s goal':>12} {'vs baseline':>12}")
        for label, read in page_reads(db, args.days).items():
            try:
                seconds = _timed(read, args.repeat)
            except AuditLensError as exc:  # a read past the gateway's time limit, say
                print(f"{label:44} failed: {str(exc)[:60]}")
                continue
            print(f"{label:44} {seconds:8.3f} {seconds / 1.0:11.2f}x {seconds / baseline:11.2f}x")
        if not args.no_browser:
            cold, warm = browser_overview(url, db)
            print(
                f"\nbrowser (Chromium): Overview, All time (the {args.days} generated days up to"
                f" {END:%Y-%m-%d} and the dashboard's own audit events of today, so daily bars"
                f" up to today), drawn {cold:.2f} s after picking it (cold caches);"
                f" {warm:.2f} s the second time (warm: every read cached)"
            )
    finally:
        db.close()
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()
            if not keep:
                shutil.rmtree(server.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
