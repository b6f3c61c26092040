"""`auditlens report access`: the Compliance page's report from the command line, the same
code (usecases/access_report.py), the same filter text, recorded as an export."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path

import typer

from cli import app, err_console
from cli.context import open_database
from sql.errors import AuditLensError
from sql.gateway import check_org_id

report_app = typer.Typer(help="Compliance reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")
FORMATS = ("csv", "html")


class ReportError(AuditLensError):
    """A report request that cannot be served (bad field, unwritable file)."""


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{option} must be a date like 2024-10-01, got: {value!r}"
        ) from None


@report_app.command("access")
def report_access(
    org: str = typer.Option(..., "--org", help="organisation id"),
    resource: str = typer.Option(..., "--resource", help="resource id, e.g. payment-logs"),
    resource_type: str | None = typer.Option(
        None, "--resource-type", help="resource type, e.g. source (default: any)"
    ),
    first: str = typer.Option(..., "--from", help="first day, UTC (inclusive), e.g. 2024-10-01"),
    last: str = typer.Option(..., "--to", help="last day, UTC (inclusive), e.g. 2024-12-31"),
    file_format: str = typer.Option("html", "--format", help="csv (every event) or html"),
    out_path: str = typer.Option(..., "--out", help="file to write"),
) -> None:
    """Who accessed RESOURCE between FROM and TO: CSV of every event or a printable HTML report."""
    from usecases import access_report
    from usecases.exports import Exporter

    if file_format not in FORMATS:
        raise typer.BadParameter(
            f"--format must be one of {', '.join(FORMATS)}, got: {file_format}"
        )
    try:
        check_org_id(org)
        query = access_report.access_query(
            resource, resource_type, _day(first, "--from"), _day(last, "--to")
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    out = Path(out_path)
    actor = f"cli:{getpass.getuser()}"
    exporter = Exporter(user_id=actor, email=None)
    with open_database() as db:
        report = access_report.build_access_report(db, org, query, generated_by=actor)
        try:
            handle = out.open("wb")
        except OSError as exc:
            raise ReportError(f"--out: cannot write {out}: {exc.strerror}") from None
        with handle:
            write = access_report.write_csv if file_format == "csv" else access_report.write_html
            result = write(db, org, report, handle, exporter=exporter)
    err_console.print(f"filter: {report.description}")
    flag = " (flagged for review)" if result.flagged_for_review else ""
    typer.echo(
        f"wrote {out} ({file_format}): {report.summary['accesses']:,} accesses by "
        f"{report.summary['users']:,} users; export #{result.export_id}, "
        f"sha256 {result.sha256}{flag}"
    )
