"""`auditlens detect`, `auditlens findings`, `auditlens triage`: rules + model -> findings."""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer

from cli import app, err_console
from cli.context import open_database
from detection.stages import Stages
from ingest.spreadsheet import escape_cell
from sql.gateway import Database
from usecases.legal_holds import shown

_SEVERITIES = ("low", "medium", "high", "critical")
_FORMATS = ("table", "json", "csv")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2025-01-31, got: {value!r}") from None


def _organizations(db: Database, org: str | None) -> list[str]:
    if org:
        return [org]
    with db.admin() as session:
        rows = session.execute(
            "SELECT organization_id FROM organizations ORDER BY organization_id", max_rows=100_000
        ).rows
    return [r[0] for r in rows]


def _load_roster(path: Path | None) -> dict[str, str] | None:
    """user_id -> peer group (role) from a roster file: JSON list/mapping, JSONL or CSV."""
    if path is None:
        return None
    if not path.is_file():
        raise typer.BadParameter(f"--roster {path}: no such file")
    from simulator.evaluate import read_roster

    return read_roster(path)


def detect_organization(
    db: Database,
    org: str,
    *,
    start: date | None = None,
    end: date | None = None,
    roster: dict[str, str] | None = None,
    actor: str | None = None,
) -> tuple[tuple[date, date] | None, int, list[Any], Stages]:
    """Detect one organisation (waiting for a scheduled run of it to finish first) and post
    its findings not posted yet to the webhook, if one is configured."""
    from detection.model import ModelStore
    from detection.notify import Webhook, notify_pending
    from detection.pipeline import run_detection
    from detection.schedule import org_lock

    store = ModelStore(db.settings.data_dir / "models")
    webhook = Webhook.from_env()
    stages = Stages()
    with org_lock(db, org, wait=True):
        result, window, inserted = run_detection(
            db,
            org,
            start=start,
            end=end,
            peer_groups=roster,
            store=store,
            actor=actor or _actor(),
            stages=stages,
            partial_min_severity=webhook.min_severity if webhook is not None else "high",
        )
        if webhook is not None:
            with stages.stage("notify"):
                notify_pending(db, webhook, org)
    findings = result.findings if result is not None else []
    return window, inserted, findings, stages


@app.command()
def detect(
    org: str | None = typer.Option(None, "--org", help="organisation id (default: every one)"),
    start: str | None = typer.Option(None, "--from", help="first day (default: after last run)"),
    end: str | None = typer.Option(None, "--to", help="last day, inclusive (default: yesterday)"),
    roster: str | None = typer.Option(None, "--roster", help="user roster (role = peer group)"),
) -> None:
    """Run rules and the model over new days (or a window) and append findings."""
    first, last = _day(start, "--from"), _day(end, "--to")
    if first and last and first > last:
        raise typer.BadParameter(f"--from {first} is after --to {last}")
    peers = _load_roster(Path(roster) if roster else None)
    with open_database() as db:
        for organization in _organizations(db, org):
            err_console.print(f"{organization}: detecting ...")
            window, inserted, findings, stages = detect_organization(
                db, organization, start=first, end=last, roster=peers
            )
            err_console.print(f"{organization}: {stages.describe()}")
            if window is None:
                typer.echo(f"{organization}: nothing new to detect")
                continue
            typer.echo(
                f"{organization}: {window[0]}..{window[1]}: {len(findings)} finding(s),"
                f" {inserted} new"
            )


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = "" if value is None else str(value)
    return escape_cell(text)


@app.command()
def findings(
    org: str = typer.Option(..., "--org", help="organisation id"),
    output: str = typer.Option("table", "--format", help="table, json or csv"),
    status: str | None = typer.Option(
        None, "--status", help="new, investigating, benign, confirmed"
    ),
    min_severity: str | None = typer.Option(None, "--min-severity", help="low ... critical"),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000),
) -> None:
    """List findings, highest score first (table, JSON or CSV on stdout)."""
    from detection.findings import (
        NOT_RUN_YET,
        STATUSES,
        count_findings,
        detection_coverage,
        list_findings,
    )
    from usecases.exports import Exporter, record_export

    if output not in _FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(_FORMATS)}, got: {output}")
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(STATUSES)}, got: {status}")
    if min_severity is not None and min_severity not in _SEVERITIES:
        raise typer.BadParameter(
            f"--min-severity must be one of {', '.join(_SEVERITIES)}, got: {min_severity}"
        )
    with open_database() as db:
        coverage = detection_coverage(db, org)
        # On stderr, as the Anomalies page's caption: the rows on stdout stay exactly the rows.
        err_console.print(
            NOT_RUN_YET
            if coverage is None
            else coverage.sentence(f"{coverage.last_run_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"),
            markup=False,
            soft_wrap=True,
        )
        frame = list_findings(db, org, status=status, min_severity=min_severity, limit=limit)
        if len(frame) == limit:
            total = count_findings(db, org, status=status, min_severity=min_severity)
            if total > limit:
                # On stderr: a JSON or CSV on stdout stays exactly the rows.
                err_console.print(f"showing {limit:,} of {total:,}; use --limit to see more")
        records: list[dict[str, Any]] = [
            {str(k): v for k, v in row.items()} for row in frame.to_dict("records")
        ]
        if output == "table":
            _table(records)
            return
        if output == "json":
            text = json.dumps([{k: _json(v) for k, v in r.items()} for r in records], indent=2)
            data = (text + "\n").encode("utf-8")
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(list(frame.columns))
            for r in records:
                writer.writerow([_cell(r[c]) for c in frame.columns])
            data = buffer.getvalue().encode("utf-8")
        # Recorded before a byte is written: a file of findings never leaves unaudited.
        record_export(
            db,
            org,
            FindingsSelection(status, min_severity, limit),
            output,
            rows=len(records),
            sha256=hashlib.sha256(data).hexdigest(),
            exporter=Exporter(user_id=_actor()),
            kind="findings",
        )
    # Bytes, so the CSV's \r\n line ends reach the file unchanged on every platform.
    stdout = typer.get_binary_stream("stdout")
    stdout.write(data)
    stdout.flush()


@dataclass(frozen=True)
class FindingsSelection:
    """Which findings `auditlens findings` wrote, as recorded with the export."""

    status: str | None
    min_severity: str | None
    limit: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"query": "", "limit": self.limit}
        if self.status:
            out["status"] = self.status
        if self.min_severity:
            out["min_severity"] = self.min_severity
        return out

    def describe(self) -> str:
        parts = [f"status {self.status}"] if self.status else []
        if self.min_severity:
            parts.append(f"severity {self.min_severity} or above")
        which = ", ".join(parts) if parts else "all findings"
        return f"{which}; highest score first, at most {self.limit}"


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _table(records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if not records:
        typer.echo("no findings")
        return
    table = Table(show_lines=False)
    for column in ("severity", "score", "user", "window", "detectors", "status", "explanation"):
        table.add_column(column, overflow="fold")
    for r in records:
        # Users and explanations hold producers' text: shown as text, never as Rich markup
        # or as controls a terminal would act on.
        table.add_row(
            *(
                Text(shown(v))
                for v in (
                    str(r["severity"]),
                    f"{r['score']:.2f}",
                    str(r["user_email"] or r["user_id"]),
                    f"{r['window_start']:%Y-%m-%d %H:%M}..{r['window_end']:%Y-%m-%d %H:%M}",
                    ",".join(r["detectors"]),
                    str(r["status"]),
                    str(r["explanation"]),
                )
            )
        )
    Console(width=200, highlight=False).print(table)


@app.command()
def triage(
    finding_id: str = typer.Argument(..., help="the finding's id"),
    org: str = typer.Option(..., "--org", help="organisation id"),
    status: str = typer.Option(..., "--status", help="new, investigating, benign, confirmed"),
    comment: str = typer.Option("", "--comment", help="why"),
) -> None:
    """Record a finding's new status (a new row; audited)."""
    from detection.findings import triage as record_triage

    with open_database() as db:
        record_triage(db, org, finding_id, status, comment, actor=_actor())
    typer.echo(f"{finding_id}: {status}")


@app.command("detection-settings")
def detection_settings(
    org: str = typer.Option(..., "--org", help="organisation id"),
    model_alerts: float | None = typer.Option(
        None, "--model-alerts", help="model-only findings allowed per 100 users per week"
    ),
    suppress_days: int | None = typer.Option(
        None, "--suppress-days", help="days a benign verdict silences the rule for the user"
    ),
) -> None:
    """Show or set how detection is calibrated to the organisation (changes are audited)."""
    from detection.settings import load_calibration, save_calibration

    with open_database() as db:
        if model_alerts is None and suppress_days is None:
            current = load_calibration(db, org)
        else:
            current = save_calibration(
                db,
                org,
                actor=_actor(),
                model_alerts_per_100_users_week=model_alerts,
                benign_suppression_days=suppress_days,
            )
    typer.echo(
        f"{org}: model-only findings: {current.model_alerts_per_100_users_week:g} per 100 users"
        f" per week; a benign verdict silences its rule for the user for"
        f" {current.benign_suppression_days} days"
    )


@app.command()
def evaluate(
    users: int = typer.Option(60, "--users", min=10, max=5_000, help="simulated people"),
    days: int = typer.Option(60, "--days", min=21, max=365, help="simulated days"),
    seed: int = typer.Option(7, "--seed", help="simulation seed"),
    k: int = typer.Option(5, "--top", min=1, max=100, help="k of recall among each day's top k"),
    org: str = typer.Option("org_eval", "--org", help="organisation the simulation goes to"),
    world: str | None = typer.Option(
        None,
        "--world",
        help="evaluate shaped worlds instead: name,name,... ('tuning': all but holdout)",
    ),
    world_users: int | None = typer.Option(
        None, "--world-users", min=20, max=2_000, help="people in each world (default: its own)"
    ),
    uncalibrated: bool = typer.Option(
        False, "--uncalibrated", help="worlds: score without calibrating to the organisation"
    ),
) -> None:
    """Simulate a labelled organisation, detect, and print quality: rules vs model vs both."""
    if world:
        names = [w.strip() for w in world.split(",") if w.strip()]
        _evaluate_worlds(names, world_users, calibrate=not uncalibrated)
        return
    from simulator.evaluate import simulate_and_evaluate

    with open_database() as db:
        labels = db.settings.data_dir / f"{org}-{users}x{days}-seed{seed}.labels.json"
        err_console.print(f"simulating {users} users x {days} days into {org} (once) ...")
        result = simulate_and_evaluate(
            db, org=org, users=users, days=days, seed=seed, labels_path=labels, k=k
        )
    start, end = result.window
    typer.echo(
        f"{org}: {result.user_days:,} user-days {start}..{end}, detected in {result.seconds:.1f} s"
    )
    typer.echo(f"\nPer scenario: recall among the top {k} users of its days")
    typer.echo(result.table(k).to_string(float_format=lambda v: f"{v:.2f}"))
    typer.echo("\nOverall (user-days)")
    typer.echo(result.overall.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _evaluate_worlds(names: list[str], users: int | None, *, calibrate: bool) -> None:
    """Each world separately: recall at high/critical per scenario, ordinary users alerted,
    planted users among the top scored."""
    from simulator.world_evaluation import evaluate_world
    from simulator.worlds import TUNING_WORLDS, WORLDS

    chosen: list[str] = []
    for name in names:
        picked = list(TUNING_WORLDS) if name == "tuning" else [name]
        for one in picked:
            if one not in WORLDS:
                known = ", ".join([*WORLDS, "tuning"])
                raise typer.BadParameter(f"--world: unknown world {one!r}; known: {known}")
            if one not in chosen:
                chosen.append(one)
    with open_database() as db:
        for name in chosen:
            err_console.print(f"{name}: simulating (once), detecting ...")
            report = evaluate_world(
                db, WORLDS[name], labels_dir=db.settings.data_dir, users=users, calibrate=calibrate
            )
            typer.echo(f"\n{report.summary()} [{report.seconds:.0f} s]")
            typer.echo(report.recall.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
            if not report.noise.empty:
                typer.echo("detectors behind ordinary users' high/critical findings:")
                typer.echo(report.noise.to_string(index=False))
