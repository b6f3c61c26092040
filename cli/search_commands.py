"""`auditlens searches list|save|show|rename|delete`: an organisation's saved searches."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cli import app
from cli.context import open_database
from usecases.legal_holds import shown
from usecases.saved_searches import delete, get, rename, save, search_detail, search_lines

searches_app = typer.Typer(help="Saved searches: Explore queries kept by name.")
app.add_typer(searches_app, name="searches")

_ORG = typer.Option("--org", help="organisation id")
_AS = typer.Option(
    "--as", help="who acts (the dashboard's sign-in email); default cli:<your login>"
)


def actor_or_default(actor: str | None) -> str:
    return actor if actor is not None else f"cli:{getpass.getuser()}"


@searches_app.command("list")
def searches_list(org: Annotated[str, _ORG], actor: Annotated[str | None, _AS] = None) -> None:
    """The searches you can see: yours and every shared one (id, name, sharing, owner, query)."""
    who = actor_or_default(actor)
    with open_database() as db:
        lines = search_lines(db, org, who)
    if not lines:
        typer.echo(f"{org}: no saved searches visible to {shown(who)}")
    for line in lines:
        typer.echo(line)


@searches_app.command("save")
def searches_save(
    org: Annotated[str, _ORG],
    name: Annotated[str, typer.Option("--name", help="the search's name (unique, any case)")],
    query: Annotated[str, typer.Option("--query", help="Explore query, e.g. 'action:export'")],
    description: Annotated[str, typer.Option("--description", help="what it finds")] = "",
    shared: Annotated[
        bool, typer.Option("--shared/--private", help="share with the organisation")
    ] = False,
    actor: Annotated[str | None, _AS] = None,
) -> None:
    """Save a query by name (private unless --shared)."""
    with open_database() as db:
        search = save(
            db, org, actor_or_default(actor), name, query, description=description, shared=shared
        )
    typer.echo(
        f"search {search.search_id} saved on {org}: {shown(search.name)} ({search.visibility})"
    )


@searches_app.command("show")
def searches_show(
    org: Annotated[str, _ORG],
    name: Annotated[str, typer.Argument(help="the search's name")],
    actor: Annotated[str | None, _AS] = None,
) -> None:
    """One search, field by field."""
    with open_database() as db:
        search = get(db, org, actor_or_default(actor), name)
    for line in search_detail(search):
        typer.echo(line)


@searches_app.command("rename")
def searches_rename(
    org: Annotated[str, _ORG],
    name: Annotated[str, typer.Argument(help="the search's name")],
    new_name: Annotated[str, typer.Argument(help="its new name")],
    actor: Annotated[str | None, _AS] = None,
) -> None:
    """Rename one of your searches."""
    with open_database() as db:
        search = rename(db, org, actor_or_default(actor), name, new_name)
    typer.echo(f"search {search.search_id} renamed to {shown(search.name)}")


@searches_app.command("delete")
def searches_delete(
    org: Annotated[str, _ORG],
    name: Annotated[str, typer.Argument(help="the search's name")],
    actor: Annotated[str | None, _AS] = None,
) -> None:
    """Delete one of your searches (refused while an alert made from it is on)."""
    with open_database() as db:
        search = delete(db, org, actor_or_default(actor), name)
    typer.echo(f"search {search.search_id} deleted: {shown(search.name)}")
