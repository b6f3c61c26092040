"""`auditlens export events`: the filtered raw events of one organisation as CSV or NDJSON,
through the same code as the dashboard's export button (escaped, hashed, recorded)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer

from cli import app, err_console
from cli.context import open_database
from sql.event_filter import EventFilter, QuerySyntaxError
from usecases.exports import FORMATS, Exporter, export_events

export_app = typer.Typer(help="Exports of audit data (every export is itself audited).")
app.add_typer(export_app, name="export")


@export_app.command("events")
def export_events_command(
    org: str = typer.Option(..., "--org", help="organisation id"),
    query: str = typer.Option("", "--query", help="filter, e.g. 'user:ann@x.com action:export'"),
    file_format: str = typer.Option("csv", "--format", help=f"one of: {', '.join(FORMATS)}"),
    out_file: str = typer.Option(..., "--out", help="file to write (replaced when it exists)"),
) -> None:
    """Export the events matching --query; prints rows, SHA-256 and the export id."""
    if file_format not in FORMATS:
        raise typer.BadParameter(
            f"--format must be one of {', '.join(FORMATS)}, got: {file_format}"
        )
    try:
        event_filter = EventFilter.parse(query)
    except QuerySyntaxError as exc:
        raise typer.BadParameter(f"--query {exc}") from None
    out = Path(out_file)
    partial = out.with_name(f".{out.name}.partial")
    with open_database() as db:
        try:
            with partial.open("wb") as handle:
                result = export_events(
                    db,
                    org,
                    event_filter,
                    file_format,
                    handle,
                    exporter=Exporter(user_id=f"cli:{getpass.getuser()}"),
                )
            # Only a complete file takes the final name.
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    note = "  (flagged for review)" if result.flagged_for_review else ""
    err_console.print(f"filter: {event_filter.describe()}")
    typer.echo(
        f"{result.rows:,} event(s) written to {out}  sha256 {result.sha256}"
        f"  export #{result.export_id}{note}"
    )
