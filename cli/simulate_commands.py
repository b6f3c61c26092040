"""`auditlens simulate`: a realistic organisation with labelled insider scenarios, written as
wire-format JSONL (plus a labels file) or straight into the database."""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import typer

from cli import app
from cli.context import open_database
from simulator import (
    DEFAULT_START,
    SCENARIOS,
    Simulation,
    SimulationConfig,
    labels_path_for,
    parse_counts,
    write_database,
    write_jsonl,
)
from sql.vocabulary import ORG_ID_RULE, is_org_id


@app.command()
def simulate(
    org: str = typer.Option(..., "--org", help="organisation id of every event"),
    users: int = typer.Option(
        ..., "--users", min=1, max=1_000_000, help="people in the organisation"
    ),
    days: int = typer.Option(..., "--days", min=1, max=3_650, help="days of activity"),
    seed: int = typer.Option(0, "--seed", help="same seed, same bytes"),
    start: str = typer.Option(
        DEFAULT_START.isoformat(), "--start", help="first simulated day (YYYY-MM-DD, UTC)"
    ),
    scenarios: str = typer.Option(
        "all",
        "--scenarios",
        help=f"name=count,... or all or none; names: {', '.join(SCENARIOS)}",
    ),
    out: str | None = typer.Option(None, "--out", help="JSONL file to write"),
    to_db: bool = typer.Option(False, "--db", help="insert into the database instead"),
    labels: str | None = typer.Option(
        None, "--labels", help="labels file (default: next to --out, or ORG.labels.json with --db)"
    ),
) -> None:
    """Simulate an organisation's use of a log platform, with labelled insider scenarios."""
    if (out is None) == (not to_db):
        raise typer.BadParameter("give exactly one of --out FILE or --db")
    if not is_org_id(org):
        raise typer.BadParameter(f"--org must be {ORG_ID_RULE}, got: {org!r}")
    try:
        first_day = date.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(f"--start must be a date YYYY-MM-DD, got: {start!r}") from None
    if (date.today() - first_day).days < days:
        raise typer.BadParameter(
            f"--start {first_day} with --days {days} reaches past today; start earlier"
        )
    try:
        counts = parse_counts(scenarios)
    except ValueError as exc:
        raise typer.BadParameter(f"--scenarios: {exc}") from None
    config = SimulationConfig(
        org, users=users, days=days, seed=seed, start=first_day, scenarios=counts
    )
    sim = Simulation(config)
    began = time.perf_counter()
    written = 0

    def progress(n: int) -> None:
        nonlocal written
        written += n
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{written:,} events")

    labels_path = Path(labels) if labels else None
    if out is not None:
        outcome = write_jsonl(sim, Path(out), labels_path, progress=progress)
        where = out
    else:
        with open_database() as db:
            outcome = write_database(
                sim, db, labels_path or Path(f"{org}.labels.json"), progress=progress
            )
        where = f"the database ({outcome.inserted:,} new, {outcome.rejected:,} rejected)"
    seconds = time.perf_counter() - began
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    typer.echo(
        f"{outcome.events:,} events for {org} ({users} users, {days} days, seed {seed}) -> {where}"
        f" in {seconds:.1f} s; {outcome.labels} planted scenario(s) -> {outcome.labels_path}"
    )


__all__ = ["labels_path_for", "simulate"]
