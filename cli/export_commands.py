"""`auditlens export events`: the filtered raw events of one organisation as CSV or NDJSON,
through the same code as the dashboard's export button (escaped, hashed, recorded)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer

from cli import app, err_console
from cli.context import open_database
from cli.search_commands import actor_or_default
from sql.event_filter import EventFilter, QuerySyntaxError
from usecases.saved_searches import get

export_app = typer.Typer(help="Exports of audit data (every export is itself audited).")
app.add_typer(export_app, name="export")


def _parsed(query: str) -> EventFilter:
    try:
        return EventFilter.parse(query)
    except QuerySyntaxError as exc:
        raise typer.BadParameter(f"--query {exc}") from None


@export_app.command("events")
def export_events_command(
    org: str = typer.Option(..., "--org", help="organisation id"),
    query: str = typer.Option("", "--query", help="filter, e.g. 'user:ann@x.com action:export'"),
    saved: str | None = typer.Option(
        None, "--saved", help="a saved search's name: its query (instead of --query)"
    ),
    actor: str | None = typer.Option(
        None, "--as", help="who asks for --saved (default cli:<your login>)"
    ),
    # Named, not imported from usecases.exports, which loads the proofs' libraries that
    # `--help` does not need; a test keeps the two in step.
    file_format: str = typer.Option("csv", "--format", help="one of: csv, ndjson"),
    out_file: str = typer.Option(..., "--out", help="file to write (replaced when it exists)"),
) -> None:
    """Export the events matching --query; prints rows, SHA-256 and the export id."""
    from usecases.exports import FORMATS, Exporter, export_events

    if file_format not in FORMATS:
        raise typer.BadParameter(
            f"--format must be one of {', '.join(FORMATS)}, got: {file_format}"
        )
    if saved is not None and query:
        raise typer.BadParameter("give --query or --saved, not both")
    # A typed query is checked before the database starts; a saved one was checked when saved.
    event_filter = _parsed(query) if saved is None else None
    out = Path(out_file)
    partial = out.with_name(f".{out.name}.partial")
    with open_database() as db:
        if event_filter is None:
            event_filter = _parsed(get(db, org, actor_or_default(actor), str(saved)).query)
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
