"""`auditlens resources list|set|import`: the resource catalogue from the command line."""

from __future__ import annotations

import csv
import getpass
import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import app, err_console
from cli.context import open_database
from ingest.spreadsheet import escape_cell
from sql.catalogue import CatalogueError, checked_entry, entries, set_entries
from sql.vocabulary import SENSITIVITY_LEVELS
from usecases.legal_holds import shown

resources_app = typer.Typer(
    help="The resource catalogue: names, sensitivity levels, tags and owners of resources."
)
app.add_typer(resources_app, name="resources")

_FORMATS = ("table", "json", "csv")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _plain(value: Any) -> Any:
    import pandas as pd

    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


@resources_app.command("list")
def resources_list(
    org: str = typer.Option(..., "--org", help="organisation id"),
    output: str = typer.Option("table", "--format", help="table, json or csv"),
) -> None:
    """Every resource: confirmed entries, then those seen in the last 90 days with a suggested
    level (status `suggested`) or none (`undescribed`)."""
    from usecases import resource_catalogue

    if output not in _FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(_FORMATS)}, got: {output}")
    with open_database() as db:
        frame = resource_catalogue.catalogue_frame(db, org)
    records = [{str(c): _plain(v) for c, v in row.items()} for row in frame.to_dict("records")]
    if output == "json":
        data = (json.dumps(records, indent=2) + "\n").encode("utf-8")
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(resource_catalogue.COLUMNS)
        for r in records:
            writer.writerow(
                [escape_cell("" if r[c] is None else str(r[c])) for c in resource_catalogue.COLUMNS]
            )
        data = buffer.getvalue().encode("utf-8")
    else:
        _table(records)
        return
    stdout = typer.get_binary_stream("stdout")
    stdout.write(data)
    stdout.flush()


def _table(records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from usecases import resource_catalogue

    if not records:
        typer.echo("no resources")
        return
    table = Table(show_lines=False)
    for column in ("resource", "level", "status", "tags", "owner", "users", "why"):
        table.add_column(column, overflow="fold")
    for r in records:
        # Text, not markup: a resource named "[bold]x" is shown as typed; ids come from
        # producers, so controls a terminal would act on are written as escapes.
        table.add_row(
            *(
                Text(shown(str(v)))
                for v in (
                    resource_catalogue.label(r["resource_id"], r["display_name"]),
                    r["sensitivity"] or "",
                    r["status"],
                    r["tags"] or "",
                    r["owner_team"] or "",
                    r["users"],
                    r["reason"] or "",
                )
            )
        )
    Console(width=200, highlight=False).print(table)


@resources_app.command("set")
def resources_set(
    resource: str = typer.Argument(..., help="the resource id events carry"),
    org: str = typer.Option(..., "--org", help="organisation id"),
    level: str | None = typer.Option(None, "--level", help=", ".join(SENSITIVITY_LEVELS)),
    name: str | None = typer.Option(None, "--name", help="display name"),
    resource_type: str | None = typer.Option(None, "--type", help="resource type, e.g. source"),
    tags: str | None = typer.Option(None, "--tags", help="comma-separated, e.g. pci,financial"),
    owner: str | None = typer.Option(None, "--owner", help="owner team"),
) -> None:
    """Describe (or confirm) one resource; fields not given keep their stored values."""
    from usecases import resource_catalogue

    with open_database() as db:
        old = entries(db, org).get(resource.strip())
        if level is None and old is None:
            found = resource_catalogue.suggest(resource)
            hint = f" (suggested: {found.level}, {found.reason})" if found else ""
            raise typer.BadParameter(f"--level: required for a resource not yet described{hint}")
        try:
            entry = checked_entry(
                resource,
                level if level is not None else old.sensitivity if old else None,
                display_name=name if name is not None else old.display_name if old else None,
                resource_type=(
                    resource_type
                    if resource_type is not None
                    else old.resource_type
                    if old
                    else None
                ),
                tags=tags if tags is not None else list(old.tags) if old else None,
                owner_team=owner if owner is not None else old.owner_team if old else None,
            )
        except CatalogueError as exc:
            raise typer.BadParameter(str(exc)) from None
        outcome = set_entries(db, org, [entry], actor=_actor(), via="cli")
    what = "added" if outcome.added else "changed" if outcome.changed else "unchanged"
    err_console.print(
        f"{org}: {entry.resource_id}: {what} ({entry.sensitivity})", markup=False, soft_wrap=True
    )


@resources_app.command("import")
def resources_import(
    file: Annotated[Path, typer.Argument(help="CSV with a header row, JSON list or JSON lines")],
    org: str = typer.Option(..., "--org", help="organisation id"),
) -> None:
    """Store every good record of a file; each bad one is reported on one line and skipped.

    Columns/fields: resource_id, sensitivity (required), display_name, resource_type, tags,
    owner_team. Exits with status 1 when any record was refused (the good ones are stored)."""
    from usecases import resource_catalogue

    if not file.is_file():
        raise typer.BadParameter(f"FILE: {file} is not a file")
    with open_database() as db:
        try:
            outcome = resource_catalogue.import_file(db, org, file, actor=_actor())
        except CatalogueError as exc:
            raise typer.BadParameter(str(exc)) from None
    for error in outcome.errors:
        err_console.print(f"{file.name}: {error}", markup=False, soft_wrap=True)
    stored = outcome.stored
    err_console.print(
        f"{org}: {outcome.read} record(s): {len(stored.added)} added, {len(stored.changed)}"
        f" changed, {len(stored.unchanged)} unchanged, {len(outcome.errors)} refused",
        markup=False,
        soft_wrap=True,
    )
    if outcome.errors:
        raise typer.Exit(1)
