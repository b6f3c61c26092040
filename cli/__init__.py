"""The `auditlens` command line: the other face of the dashboard layer.

Every command reads AUDITLENS_DATABASE_URL (else starts the embedded server), exits non-zero
with a one-line reason on bad input, and prints progress on long work. Commands live in
modules named for what they do; each registers itself on `app` below.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from sql.errors import AuditLensError

app = typer.Typer(
    name="auditlens",
    help="AuditLens: the audit trail of who accessed, searched, downloaded and changed what.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# No markup: what commands print here holds users' text (filters, receivers' errors), which
# must read as typed, never as a style or a link.
err_console = Console(stderr=True, highlight=False, markup=False)

# Importing a command module registers its commands on `app`.
from cli import (  # noqa: E402
    alert_commands,
    database_commands,
    detection_commands,
    evidence_commands,
    export_commands,
    hold_commands,
    ingest_commands,
    integrity_commands,
    report_commands,
    resource_commands,
    rollup_commands,
    run_command,
    search_commands,
    simulate_commands,
    stream_commands,
    user_commands,
)

__all__ = [
    "alert_commands",
    "app",
    "database_commands",
    "detection_commands",
    "evidence_commands",
    "export_commands",
    "hold_commands",
    "ingest_commands",
    "integrity_commands",
    "main",
    "report_commands",
    "resource_commands",
    "rollup_commands",
    "run_command",
    "search_commands",
    "simulate_commands",
    "stream_commands",
    "user_commands",
]


def main() -> None:
    """Entry point: AuditLens errors become one line on stderr and a non-zero exit code."""
    try:
        app()
    except AuditLensError as exc:
        # Plain print: one line however narrow the terminal (rich would wrap it).
        print(f"auditlens: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("auditlens: interrupted", file=sys.stderr)
        sys.exit(130)
