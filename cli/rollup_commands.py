"""`auditlens refresh`: roll up the events ingested since the last refresh."""

from __future__ import annotations

import typer

from cli import app
from cli.context import open_database


@app.command()
def refresh(
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="empty the rollups and roll up every event again (after changing an "
        "organisation's time zone or working hours)",
    ),
) -> None:
    """Roll up events whose transactions ended since the last refresh (incremental).

    Reads never wait for this: they add the events past the watermark from raw events.
    """
    from sql.read_model import ReadModel

    with open_database() as db:
        stats = ReadModel(db).refresh(rebuild=rebuild)
    rate = f", {stats.events_per_second:,.0f} events/s" if stats.events else ""
    typer.echo(
        f"{stats.events:,} event(s) rolled up in {stats.seconds:.2f} s{rate}; "
        f"watermark {stats.watermark}"
    )
