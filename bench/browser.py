"""Dashboard speed in a real browser: Chromium (Debian's, through Playwright) against the
dashboard server, timed from a click until Streamlit reports its script "notRunning".

    python bench/browser.py                       # the demo organisation, as `make run` seeds it
    python bench/browser.py --database-url postgresql://127.0.0.1:55433/auditlens --org ORG

Per interaction it prints the median over --repeat runs (and the first run, on cold caches)
for sign-in to the first page, every page from the sidebar and an Explore page turn; beside
each, its ratio to a baseline measured in the same run (loading the sign-in page: a script
run that reads nothing) and to the goal (sign-in 1.5 s, a page or page turn 1 s). The load
average is printed before and after: on a busy machine every figure grows.

Streamlit reports "notRunning" before the browser has drawn what the run sent: the first
chart of a tab waits for Plotly's code (4.7 MB) to arrive and compile. The "drawn" column
is the median until every chart is drawn and the browser is idle, and the next interaction
starts only then, so no interaction is charged with the previous one's drawing.

With --database-url the given database is never changed: the run works on a copy
(CREATE DATABASE ... TEMPLATE, on the same server, dropped afterwards), migrated and given a
bench account. With --in-place as well, the run uses that database itself (one made for this,
such as your own copy of a kept benchmark database: copying 10M events twice would need twice
the disk); it is migrated and gains a bench account per run. Without --database-url, a
throwaway embedded server gets the demo organisation, its findings and its seals, as
`auditlens run` makes them. Asserts nothing (tests never time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path
from typing import Any, NoReturn

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
# Run as a script: the repository root holds the packages and the browser tests' settings.
sys.path.insert(0, str(ROOT))

from bench.queries import KEPT_PREFIX  # noqa: E402
from cli.run_command import streamlit_command  # noqa: E402
from sql.gateway import Database  # noqa: E402
from sql.migrate import load_migrations, migrate  # noqa: E402
from sql.settings import DATABASE_URL_ENV, Settings  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    _wait_until_healthy,
)
from tests.browser.script_state import IDLE  # noqa: E402
from tests.ports import free_port  # noqa: E402
from usecases.accounts import add_user  # noqa: E402

BENCH_EMAIL = "bench@company.com"
SIGN_IN_GOAL = 1.5
PAGE_GOAL = 1.0
# Waits for a page that never comes end the run instead of hanging it.
STEP_TIMEOUT_MS = 120_000


@dataclass
class Timings:
    """Seconds per interaction, in the order measured (the first ran on cold caches)."""

    runs: dict[str, list[float]] = field(default_factory=dict)
    drawn: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float | tuple[float, float]) -> None:
        """`seconds` until notRunning, or (until notRunning, until drawn)."""
        stopped, drawn = seconds if isinstance(seconds, tuple) else (seconds, seconds)
        self.runs.setdefault(name, []).append(stopped)
        self.drawn.setdefault(name, []).append(drawn)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _idle(page: Any) -> None:
    page.locator(IDLE).wait_for(state="attached")


# Every chart on the page drawn (Plotly's code loaded: no skeleton left in its place).
_CHARTS_DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"]')
  && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
       .every(chart => chart.querySelector('.main-svg'))"""
# Resolves once the browser's main thread has rendered a frame and run its queued tasks.
_MAIN_THREAD_IDLE = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"


def _drawn(page: Any) -> None:
    page.wait_for_function(_CHARTS_DRAWN, polling=50)
    page.evaluate(_MAIN_THREAD_IDLE)


def _clicked(page: Any, click: Callable[[], None], done: Callable[[], None]) -> tuple[float, float]:
    """Seconds from `click` until `done` has seen the new view and the script has stopped,
    and until the browser has drawn it. `done` waits for something only the new run draws,
    so the idle state is the new run's."""
    _idle(page)
    _drawn(page)
    began = time.perf_counter()
    click()
    done()
    _idle(page)
    stopped = time.perf_counter() - began
    _drawn(page)
    return stopped, time.perf_counter() - began


def _heading(page: Any, name: str) -> Callable[[], None]:
    return lambda: page.get_by_role("heading", name=name, exact=True).wait_for()


def _sign_in_page(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
    _idle(page)
    return page


def measure(
    url: str,
    email: str,
    password: str,
    repeat: int,
    timings: Timings,
    all_time_from: date | None = None,
) -> None:
    """Every interaction `repeat` times, in rounds, so each round meets caches as a user would.
    With `all_time_from` (the organisation's first day), each page with a period picker is
    also switched to "All time" and timed: presets end now, and old data lies outside them."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for _ in range(repeat):
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                context.set_default_timeout(STEP_TIMEOUT_MS)
                # Baseline: the sign-in page, from navigation to the script's end.
                began = time.perf_counter()
                page = _sign_in_page(context, url)
                stopped = time.perf_counter() - began
                _drawn(page)
                timings.add("baseline: sign-in page load", (stopped, time.perf_counter() - began))

                page.get_by_role("textbox", name="Email").fill(email)
                page.get_by_role("textbox", name="Password").fill(password)
                timings.add(
                    "sign-in to the first page (Overview)",
                    _clicked(
                        page,
                        page.get_by_role("button", name="Sign in").click,
                        _heading(page, "Overview"),
                    ),
                )
                # Every page of the sidebar's menu, ending on the first (the current one).
                titles = _menu(page)
                for title in [*titles[1:], titles[0]]:
                    link = page.get_by_role("link", name=title, exact=True)
                    timings.add(f"page: {title}", _clicked(page, link.click, _heading(page, title)))
                    if all_time_from is not None:
                        _all_time(page, title, all_time_from, timings)
                _page_turns(page, timings)
                context.close()
        finally:
            browser.close()


def _all_time(page: Any, title: str, first_day: date, timings: Timings) -> None:
    """Pick "All time" in the page's period picker, if it has one."""
    period = page.get_by_role("combobox", name="Period", exact=True)
    if period.count() == 0:
        return
    period.click()
    option = page.get_by_role("option", name="All time", exact=True)
    # The period's caption names its first day: only the new run draws it.
    caption = page.get_by_text(f"{first_day:%Y-%m-%d} 00:00 to ", exact=False).first
    timings.add(f"page: {title}, All time", _clicked(page, option.click, caption.wait_for))


def _menu(page: Any) -> list[str]:
    """The page titles of the sidebar's menu, in its order."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    # A link's text is its icon's ligature name, then its title.
    titles = [text.strip().splitlines()[-1] for text in links.all_inner_texts()]
    if not titles:
        raise SystemExit("the sidebar lists no pages: is the dashboard's navigation drawn?")
    return titles


def _page_turns(page: Any, timings: Timings) -> None:
    """Explore's default view, then "Older →" twice (new keyset pages, not cached ones)."""
    page.get_by_role("link", name="Explore", exact=True).click()
    page.get_by_role("heading", name="Explore", exact=True).wait_for()
    page.get_by_text("Events 1–", exact=False).first.wait_for()
    _idle(page)
    for n in (2, 3):
        older = page.get_by_role("button", name="Older →")
        if older.is_disabled():
            return
        first_row = (n - 1) * 50 + 1
        caption = page.get_by_text(f"Events {first_row:,}–", exact=False).first
        timings.add("Explore page turn (Older →)", _clicked(page, older.click, caption.wait_for))


def report(timings: Timings) -> None:
    baseline = statistics.median(timings.runs["baseline: sign-in page load"])
    print(
        f"{'interaction':40} {'median s':>9} {'drawn s':>8} {'first s':>8} {'vs base':>8}"
        f" {'goal s':>7}  "
    )
    for name, runs in timings.runs.items():
        median = statistics.median(runs)
        drawn = statistics.median(timings.drawn[name])
        if name.startswith("baseline"):
            goal = ""
        else:
            limit = SIGN_IN_GOAL if name.startswith("sign-in") else PAGE_GOAL
            goal = f"{limit:7.1f}  {'ok' if median <= limit else 'MISSED'}"
        print(
            f"{name:40} {median:9.2f} {drawn:8.2f} {runs[0]:8.2f} {median / baseline:7.1f}x"
            f" {goal}"
            f"  (n={len(runs)})"
        )


@contextmanager
def dashboard_server(database_url: str, log: Path) -> Iterator[str]:
    """`streamlit run dashboard/server.py` on a free port against `database_url`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env[DATABASE_URL_ENV] = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    command = streamlit_command("127.0.0.1", port)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _bench_account(db: Database, org: str, email: str) -> str:
    added = add_user(db, email=email, org=org, role="admin", actor="bench")
    assert added.password is not None, "a fresh database already had the bench account"
    return str(added.password)


@contextmanager
def demo_database(folder: Path) -> Iterator[tuple[Database, str]]:
    """A throwaway embedded server with the demo organisation as `auditlens run` makes it."""
    from cli.demo_sealing import seal_out_of_the_box
    from cli.run_command import _detect_demo
    from simulator.demo import DEMO_ORG, seed_demo

    db = Database.open(Settings(database_url=None, data_dir=folder))
    try:
        migrate(db)
        began = time.perf_counter()
        seeded = seed_demo(db)
        assert seeded is not None
        _detect_demo(db, seeded.labels_path)
        seal_out_of_the_box(db, DEMO_ORG, lambda line: None)
        print(
            f"demo: {seeded.events:,} events of {DEMO_ORG} seeded, detected and sealed"
            f" in {time.perf_counter() - began:.0f} s"
        )
        yield db, DEMO_ORG
    finally:
        db.close(stop_embedded=True)


def _refuse_other_history(url: str) -> None:
    """Exit with a one-line reason when the database recorded migrations whose text differs
    from this tree's (a database built before they were squashed): migrating its copy would
    be refused after minutes of copying. Only reads the source."""
    ours = {m.name: m.checksum for m in load_migrations()}
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        recorded = conn.execute("SELECT name, checksum FROM schema_migrations").fetchall()
    differ = sorted(name for name, checksum in recorded if ours.get(name) != checksum)
    if differ:
        raise SystemExit(
            f"--database-url: built by other migrations than this tree's ({', '.join(differ)}"
            " differ or are unknown); migrate would refuse it: load a fresh one"
        )


@contextmanager
def copied_database(url: str, folder: Path) -> Iterator[Database]:
    """A copy of the database at `url` on its own server (dropped afterwards), migrated."""
    _refuse_other_history(url)
    source = make_url(url)
    copy = f"auditlens_browser_bench_{uuid.uuid4().hex[:8]}"
    maintenance = source.set(drivername="postgresql", database="postgres")
    admin_url = maintenance.render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        began = time.perf_counter()
        _create_copy(conn, copy, str(source.database))
        print(f"copy: {source.database} -> {copy} in {time.perf_counter() - began:.0f} s")
    copy_url = source.set(database=copy).render_as_string(hide_password=False)
    db = Database(copy_url, Settings(database_url=copy_url, data_dir=folder))
    try:
        migrate(db)
        yield db
    finally:
        db.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


@contextmanager
def database_in_place(url: str, folder: Path) -> Iterator[Database]:
    """The database at `url` itself, migrated."""
    _refuse_other_history(url)
    db = Database(url, Settings(database_url=url, data_dir=folder))
    try:
        migrate(db)
        yield db
    finally:
        db.close()


COPY_WAIT_SECONDS = 900


def _create_copy(conn: psycopg.Connection[Any], copy: str, source: str) -> None:
    """CREATE DATABASE copy TEMPLATE source. FILE_COPY copies the files as they are (WAL_LOG,
    the default, writes every page of a 10M-event database to the WAL too). PostgreSQL
    refuses while anyone else is connected to the source: retry until COPY_WAIT_SECONDS."""
    deadline = time.monotonic() + COPY_WAIT_SECONDS
    while True:
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(copy), sql.Identifier(source)
                )
            )
            return
        except psycopg.errors.ObjectInUse as exc:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"--database-url: {source} stayed in use for {COPY_WAIT_SECONDS} s,"
                    " so it cannot be copied (PostgreSQL copies only an idle database)"
                ) from exc
            print(f"copy: {source} is in use by another session; retrying in 10 s")
            # Waiting for another benchmark's session to end; bounded by COPY_WAIT_SECONDS.
            time.sleep(10)


def _busiest_org(db: Database) -> str:
    with db.admin() as session:
        org = session.scalar(
            "SELECT organization_id FROM audit_events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
    if org is None:
        raise SystemExit("--database-url: the database has no events")
    return str(org)


@contextmanager
def unwound_on_terminate() -> Iterator[None]:
    """A SIGTERM (a `timeout`, a stopped job) unwinds the run as an error does, so the copy is
    dropped and the servers stop: by default Python dies at once and leaves the copy (11 GB
    of a 10M-event database) on a server others share."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main() -> None:
    with unwound_on_terminate():
        _main()


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per interaction (median)")
    parser.add_argument(
        "--database-url",
        help="measure a copy of this AuditLens database (default: a fresh demo organisation)",
    )
    parser.add_argument("--org", help="with --database-url: the organisation (default: busiest)")
    parser.add_argument(
        "--all-time",
        action="store_true",
        help='also time "All time" in each period picker (for data older than the presets)',
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="with --database-url: measure that database itself, not a copy (it is migrated"
        " and gains a bench account); never a kept one (auditlens_bench_*)",
    )
    args = parser.parse_args()
    if args.in_place and not args.database_url:
        parser.error("--in-place: needs --database-url")
    if args.in_place and str(make_url(args.database_url).database).startswith(KEPT_PREFIX):
        parser.error(f"--in-place: {KEPT_PREFIX}* databases are kept: measure a copy of them")
    if args.repeat < 1:
        parser.error(f"--repeat: must be at least 1, got {args.repeat}")
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")

    folder = Path(tempfile.mkdtemp(prefix="auditlens-browser-bench-"))
    folder.chmod(0o755)
    print(f"load average before: {_load()}")
    try:
        if args.database_url and args.in_place:
            with database_in_place(args.database_url, folder) as db:
                org = args.org or _busiest_org(db)
                run(db, org, args.repeat, folder, all_time=args.all_time, fresh=False)
        elif args.database_url:
            with copied_database(args.database_url, folder) as db:
                org = args.org or _busiest_org(db)
                run(db, org, args.repeat, folder, all_time=args.all_time)
        else:
            with demo_database(folder) as (db, org):
                run(db, org, args.repeat, folder, all_time=args.all_time)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average after: {_load()}")


def run(
    db: Database, org: str, repeat: int, folder: Path, *, all_time: bool = False, fresh: bool = True
) -> None:
    with db.admin() as session:
        events = session.scalar(
            "SELECT count(*) FROM audit_events WHERE organization_id = :org", {"org": org}
        )
        first = session.scalar(
            "SELECT min(event_time) FROM audit_events WHERE organization_id = :org AND NOT own_use",
            {"org": org},
        )
    print(
        f"organisation {org}: {events:,} events from {first:%Y-%m-%d %H:%M} UTC;"
        f" {db.capabilities.describe()}"
    )
    # A database measured in place may hold earlier runs' bench accounts.
    email = BENCH_EMAIL if fresh else f"bench-{uuid.uuid4().hex[:8]}@company.com"
    password = _bench_account(db, org, email)
    timings = Timings()
    with dashboard_server(db.url, folder / "dashboard.log") as url:
        print(f"dashboard at {url}; load average: {_load()}\n")
        all_time_from = first.astimezone(UTC).date() if all_time else None
        measure(url, email, password, repeat, timings, all_time_from)
    report(timings)


if __name__ == "__main__":
    main()
