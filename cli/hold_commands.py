"""`auditlens holds list|place|lift`: legal holds, which outrank retention."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cli import app
from cli.context import open_database
from usecases.legal_holds import hold_lines, lift, place

holds_app = typer.Typer(help="Legal holds: matching events are never purged while held.")
app.add_typer(holds_app, name="holds")

_ORG = typer.Option("--org", help="organisation id")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@holds_app.command("list")
def holds_list(
    org: Annotated[str, _ORG],
    active: Annotated[bool, typer.Option("--active", help="only holds not lifted")] = False,
) -> None:
    """The organisation's holds, newest first, with how many stored events each covers."""
    with open_database() as db:
        lines = hold_lines(db, org, include_lifted=not active)
    if not lines:
        typer.echo(f"{org}: no {'active ' if active else ''}legal holds")
    for line in lines:
        typer.echo(line)


@holds_app.command("place")
def holds_place(
    org: Annotated[str, _ORG],
    query: Annotated[
        str,
        typer.Option(
            "--query",
            help="Explore query: user:, resource:, resource_type:, family:, action:,"
            " session:, ip:, created:FROM..TO (empty: every event of the organisation)",
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="why the events must be kept")],
    reference: Annotated[str, typer.Option("--reference", help="case or matter number")],
) -> None:
    """Place a hold: matching events are kept whatever their retention, until it is lifted."""
    with open_database() as db:
        typer.echo(place(db, org, query, reason=reason, reference=reference, actor=_actor()))


@holds_app.command("lift")
def holds_lift(
    org: Annotated[str, _ORG],
    hold: Annotated[
        int, typer.Option("--hold", min=1, max=2**63 - 1, help="hold id (see `holds list`)")
    ],
    reason: Annotated[str, typer.Option("--reason", help="why the hold ends")],
) -> None:
    """Lift a hold (its record stays): its events follow their retention again."""
    with open_database() as db:
        typer.echo(lift(db, org, hold, reason=reason, actor=_actor()))
