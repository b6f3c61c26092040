"""`auditlens alerts list|create|dry-run|enable|disable`: alerts made from saved searches,
evaluated by detection as rules of its engine."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from cli import app
from cli.context import open_database
from cli.search_commands import actor_or_default
from sql.search_alerts import CONDITIONS, SEVERITIES
from usecases.legal_holds import shown

# usecases.search_alerts is imported inside each command: it brings detection and
# scikit-learn, which every other command would otherwise load at start-up.

alerts_app = typer.Typer(help="Alerts from saved searches: rules of detection's engine.")
app.add_typer(alerts_app, name="alerts")

_ORG = typer.Option("--org", help="organisation id")
_AS = typer.Option(
    "--as", help="who acts (the dashboard's sign-in email); default cli:<your login>"
)
_ALERT = typer.Argument(min=1, max=2**63 - 1, help="alert id (see `alerts list`)")
_REASON = typer.Option("--reason", help="why (recorded with the change)")


@alerts_app.command("list")
def alerts_list(org: Annotated[str, _ORG]) -> None:
    """Every alert: id, on/off, severity, search, condition, the rule id its findings name."""
    from usecases import search_alerts

    with open_database() as db:
        lines = search_alerts.alert_lines(db, org)
    if not lines:
        typer.echo(f"{org}: no alerts")
    for line in lines:
        typer.echo(line)


@alerts_app.command("create")
def alerts_create(
    org: Annotated[str, _ORG],
    search: Annotated[str, typer.Option("--search", help="the saved search's name")],
    condition: Annotated[
        str, typer.Option("--condition", help=f"one of: {', '.join(CONDITIONS)}")
    ] = "any",
    threshold: Annotated[
        int, typer.Option("--threshold", help="N: fire on more than N matches (count, per_user)")
    ] = 0,
    window: Annotated[
        int, typer.Option("--window", help="T: minutes the N matches fall within")
    ] = 60,
    severity: Annotated[
        str, typer.Option("--severity", help=f"one of: {', '.join(SEVERITIES)}")
    ] = "high",
    actor: Annotated[str | None, _AS] = None,
) -> None:
    """Make an alert from a saved search; it starts switched off (see dry-run, enable)."""
    from usecases import search_alerts

    with open_database() as db:
        alert = search_alerts.create(
            db,
            org,
            actor_or_default(actor),
            search,
            condition=condition,
            threshold=threshold,
            window_minutes=window,
            severity=severity,
        )
    typer.echo(
        f"alert {alert.alert_id} created on {org} (off): {shown(alert.search_name)},"
        f" {alert.spec.describe()}, {alert.severity}; try `auditlens alerts dry-run"
        f" --org {org} {alert.alert_id}`"
    )


@alerts_app.command("dry-run")
def alerts_dry_run(
    org: Annotated[str, _ORG],
    alert: Annotated[int, _ALERT],
    days: Annotated[int, typer.Option("--days", min=1, max=90, help="days back")] = 30,
    today: Annotated[
        str | None, typer.Option("--to", help="last day, YYYY-MM-DD (default: today, UTC)")
    ] = None,
) -> None:
    """What the alert would have fired on over the last --days days."""
    from usecases import search_alerts

    last: date | None = None
    if today is not None:
        try:
            last = date.fromisoformat(today)
        except ValueError:
            raise typer.BadParameter(f"--to must be a date (YYYY-MM-DD), got: {today!r}") from None
    with open_database() as db:
        run = search_alerts.dry_run(db, org, alert, days=days, today=last)
    for line in search_alerts.dry_run_lines(run):
        typer.echo(line)


@alerts_app.command("enable")
def alerts_enable(
    org: Annotated[str, _ORG],
    alert: Annotated[int, _ALERT],
    reason: Annotated[str, _REASON] = "",
    actor: Annotated[str | None, _AS] = None,
) -> None:
    """Switch an alert on: detection evaluates it from its next run."""
    from usecases import search_alerts

    with open_database() as db:
        done = search_alerts.enable(db, org, actor_or_default(actor), alert, reason)
    typer.echo(f"alert {done.alert_id} switched on: {shown(done.search_name)}")


@alerts_app.command("disable")
def alerts_disable(
    org: Annotated[str, _ORG],
    alert: Annotated[int, _ALERT],
    reason: Annotated[str, _REASON] = "",
    actor: Annotated[str | None, _AS] = None,
) -> None:
    """Switch an alert off (recorded; the evidence pack lists alerts left off)."""
    from usecases import search_alerts

    with open_database() as db:
        done = search_alerts.disable(db, org, actor_or_default(actor), alert, reason)
    typer.echo(f"alert {done.alert_id} switched off: {shown(done.search_name)}")
