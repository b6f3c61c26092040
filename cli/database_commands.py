"""Commands that manage the store: migrate, retention policies, purge, the embedded server."""

from __future__ import annotations

import getpass

import typer

from cli import app, err_console
from cli.context import open_database
from sql.embedded import EmbeddedPostgres
from sql.gateway import Database
from sql.migrate import migrate as run_migrations
from sql.retention import purge as run_purge
from sql.retention import set_policy
from sql.settings import Settings
from sql.vocabulary import FAMILIES

retention_app = typer.Typer(help="Retention policies per organisation and family.")
db_app = typer.Typer(help="The embedded PostgreSQL server (used when no URL is configured).")
app.add_typer(retention_app, name="retention")
app.add_typer(db_app, name="db")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.command()
def migrate() -> None:
    """Apply pending migrations (safe to run twice)."""
    db = Database.open()
    try:
        applied = run_migrations(db, progress=lambda name: err_console.print(f"applied {name}"))
        caps = db.capabilities
        typer.echo(f"{len(applied)} migration(s) applied; server: {caps.describe()}")
    finally:
        db.close(stop_embedded=True)


@retention_app.command("set")
def retention_set(
    org: str = typer.Option(..., "--org", help="organisation id"),
    family: str = typer.Option(..., "--family", help=f"one of: {', '.join(FAMILIES)}"),
    days: int = typer.Option(..., "--days", min=1, max=36500, help="days to keep new events"),
) -> None:
    """Set how long new events of a family are kept (stored events keep their guarantee)."""
    if family not in FAMILIES:
        raise typer.BadParameter(f"--family must be one of {', '.join(FAMILIES)}, got: {family}")
    with open_database() as db:
        previous = set_policy(db, org, family, days, actor=_actor())
    was = f"{previous} days" if previous is not None else "the default"
    typer.echo(f"{org}: {family} events stored from now on are kept {days} days (was {was})")


@app.command()
def purge() -> None:
    """Remove events past their retention guarantee unless a legal hold keeps them; audited."""
    with open_database() as db:
        summary = run_purge(db, actor=_actor())
    for (org, family), count in sorted(summary.removed.items()):
        typer.echo(f"{org}\t{family}\t{count:,} removed")
    for (org, hold, family), count in sorted(summary.kept.items()):
        typer.echo(f"{org}\t{family}\t{count:,} kept: past retention, under legal hold {hold}")
    if not summary.removed:
        typer.echo("nothing to purge: no unheld event is past its retention guarantee")
        return
    typer.echo(f"{summary.total:,} event(s) removed in all")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server and leave it running; prints its URL."""
    server = EmbeddedPostgres(Settings.from_env().data_dir)
    typer.echo(server.start())


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    EmbeddedPostgres(Settings.from_env().data_dir).stop()
    typer.echo("embedded PostgreSQL stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded server runs, and where."""
    server = EmbeddedPostgres(Settings.from_env().data_dir)
    if server.is_running():
        typer.echo(f"running: {server.url()}")
    else:
        typer.echo(f"not running (data folder: {server.data_dir})")
        raise typer.Exit(1)
