"""`auditlens users ...`: built-in dashboard accounts and their roles per organisation."""

from __future__ import annotations

import getpass

import typer

from cli import app
from cli.context import open_database
from usecases.accounts import ROLES, AccountError, add_user

users_app = typer.Typer(help="Dashboard accounts and their roles per organisation.")
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    email: str = typer.Argument(..., help="the account's email address"),
    org: str = typer.Option(..., "--org", help="organisation id the role applies to"),
    role: str = typer.Option(..., "--role", help=f"one of: {', '.join(ROLES)}"),
    can_export: bool = typer.Option(
        False, "--can-export", help="let an analyst export (admins and auditors always may)"
    ),
) -> None:
    """Create an account (printing its generated password once) or change its role in ORG."""
    if role not in ROLES:
        raise typer.BadParameter(f"--role must be one of {', '.join(ROLES)}, got: {role}")
    with open_database() as db:
        try:
            added = add_user(
                db,
                email=email,
                org=org,
                role=role,
                can_export=can_export,
                actor=f"cli:{getpass.getuser()}",
            )
        except AccountError as exc:
            raise typer.BadParameter(str(exc)) from None
    export_note = " (may export)" if can_export and role == "analyst" else ""
    typer.echo(f"{added.email} is {role} of {org}{export_note}")
    if added.password:
        typer.echo(f"password (shown once, store it now): {added.password}")
