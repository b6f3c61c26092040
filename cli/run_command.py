"""`auditlens run`: database (embedded unless configured), migrations, then the dashboard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from cli import app, err_console
from sql.gateway import Database
from sql.migrate import migrate
from sql.settings import DATABASE_URL_ENV
from usecases.accounts import DEMO_ADMIN_EMAIL, ensure_demo_admin

# The st.App entry (dashboard + session-cookie and download routes), not app.py alone.
APP_FILE = Path(__file__).resolve().parents[1] / "dashboard" / "server.py"


def streamlit_command(host: str, port: int) -> list[str]:
    """`python -m streamlit run dashboard/server.py` on `host`:`port`: the one command line
    that starts the dashboard, for `auditlens run`, the browser tests and the benchmark.

    Settings that hold however the server starts live in dashboard/.streamlit/config.toml.
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_FILE),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # Nothing edits the pages while the server runs; a watcher would only spend a thread
        # (and, without watchdog installed, CPU polling every imported module).
        "--server.fileWatcherType",
        "none",
    ]


def _detect_demo(db: Database, labels_path: Path | None) -> None:
    """Findings for the freshly seeded demo organisation (its roster gives the peer groups)."""
    from cli.detection_commands import detect_organization
    from simulator.demo import DEMO_ORG
    from simulator.evaluate import read_roster

    roster = read_roster(labels_path) if labels_path and labels_path.is_file() else None
    window, inserted, _, _ = detect_organization(db, DEMO_ORG, roster=roster, actor="system:run")
    if window is not None:
        err_console.print(f"detection: {inserted} finding(s) for {window[0]}..{window[1]}")


@app.command()
def run(
    host: str = typer.Option("127.0.0.1", help="address the dashboard listens on"),
    port: int = typer.Option(8501, min=1, max=65535, help="port the dashboard listens on"),
) -> None:
    """Start everything: the database, migrations, and the dashboard; prints the URL."""
    from cli.demo_sealing import seal_out_of_the_box
    from detection.schedule import background_detection
    from integrity.seal_schedule import background_sealing
    from simulator.demo import DEMO_ORG, seed_demo
    from streaming.service import background_streaming

    db = Database.open()
    try:
        db.check_server()
        applied = migrate(db)
        if applied:
            err_console.print(f"applied {len(applied)} migration(s)")
        # After the migrations: what the schema offers (indexed text search) too.
        err_console.print(f"database: {db.capabilities.describe()}")
        # Seed before the demo admin, so the admin is made a member of org_demo.
        seeded = seed_demo(db)
        if seeded is not None:
            err_console.print(
                f"empty database: seeded the demo organisation org_demo with {seeded.events:,}"
                f" simulated events (labels: {seeded.labels_path})"
            )
            _detect_demo(db, seeded.labels_path)
        # Before the environment is copied for the dashboard and the sealer starts.
        seal_out_of_the_box(db, DEMO_ORG, err_console.print)
        demo_password = ensure_demo_admin(db)
        if demo_password:
            typer.echo(
                f"demo admin created: {DEMO_ADMIN_EMAIL}  password (shown once): {demo_password}"
            )
        env = dict(os.environ)
        # The dashboard process connects to exactly the server this one prepared.
        env[DATABASE_URL_ENV] = db.url.replace("postgresql+psycopg://", "postgresql://", 1)
        command = streamlit_command(host, port)
        # A plain `kill` must stop us as cleanly as Ctrl-C: dashboard first, then the
        # sealer (a seal in progress finishes), then the server.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with (
            background_sealing(db, err_console.print),
            background_detection(db, err_console.print),
            background_streaming(db, err_console.print),
        ):
            dashboard = subprocess.Popen(command, env=env)
            typer.echo(f"AuditLens is running at http://{host}:{port}  (Ctrl-C stops it)")
            try:
                dashboard.wait()
            except KeyboardInterrupt:
                dashboard.send_signal(signal.SIGTERM)
                dashboard.wait(timeout=30)
    finally:
        db.close(stop_embedded=True)
